# A golden image in one template, without booting anything: refit-chroot opens a Debian 12 image
# offline, refit-harden hardens it (an admin user with an SSH key, sshd, host name, DNS, NTP, an
# nftables firewall and, when given a hash, a GRUB password), and refit-patch brings the hardened image up to date from the security
# and updates suites. Run it as root (loop devices and mounts):
#
#   sudo packer build -var source_image=debian-12-genericcloud-amd64.qcow2 \
#     -var "ssh_public_key=$(cat ~/.ssh/id_ed25519.pub)" \
#     -var grub_password_hash=grub.pbkdf2.sha512.10000.… \
#     -var mirror=https://deb.example.org/debian -var security_mirror=https://deb.example.org/debian-security \
#     example/pipeline
#
# In output-pipeline/ (output_directory): debian-12-golden.qcow2 (hardened), and
# debian-12-golden-patched.qcow2 (hardened and patched: the image to ship), each with its
# .manifest.json; harden-report.json and patch-report.json in the current folder. The source
# image is only read.
# refit-patch reads the repositories itself: a refit-repodiff data source runs before the build
# and would only see the source image, not the packages refit-harden installs. To re-patch the
# finished image every night when updates appear, see example/patch/nightly.

packer {
  required_plugins {
    refit = {
      source  = "github.com/refit-images/refit"
      version = ">= 0.1.0"
    }
  }
}

variable "source_image" {
  type        = string
  description = "The Debian 12 qcow2 or raw image to start from (only read)."
  default     = "debian-12-genericcloud-amd64.qcow2"
}

variable "ssh_public_key" {
  type        = string
  description = "The OpenSSH public key line the admin user logs in with."
  default     = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKe/9ckEBvdOvmnqg9lDwNNdxDbQS6C4cN8UhE77xhcM ops@example.com"
}

variable "admin_user" {
  type        = string
  description = "The admin account: key login only, passwordless sudo."
  default     = "ops"
}

variable "hostname" {
  type    = string
  default = "golden"
}

variable "domain" {
  type    = string
  default = "example.com"
}

variable "dns_servers" {
  type    = list(string)
  default = ["192.0.2.53", "198.51.100.53"]
}

variable "ntp_servers" {
  type    = list(string)
  default = ["0.debian.pool.ntp.org", "1.debian.pool.ntp.org"]
}

variable "mirror" {
  type        = string
  description = "Debian mirror (the folder holding dists/bookworm and dists/bookworm-updates)."
  default     = "https://deb.example.org/debian"
}

variable "security_mirror" {
  type        = string
  description = "Debian security mirror (the folder holding dists/bookworm-security)."
  default     = "https://deb.example.org/debian-security"
}

variable "keyring" {
  type        = string
  description = "The keyring the mirrors' Release files are signed with."
  default     = "/usr/share/keyrings/debian-archive-keyring.gpg"
}

variable "grub_password_hash" {
  type        = string
  sensitive   = true
  description = "A GRUB superuser password hash for the hardened image: the grub.pbkdf2.sha512.… that grub-mkpasswd-pbkdf2 prints. Editing boot entries and the GRUB shell then need the password; the image still boots unattended. Empty (the default): no boot loader password."
  default     = ""
}

variable "output_directory" {
  type    = string
  default = "output-pipeline"
}

source "refit-chroot" "debian" {
  source_image      = var.source_image
  output_directory  = var.output_directory
  output_image_name = "debian-12-golden.qcow2"
  output_format     = "qcow2"
}

build {
  sources = ["source.refit-chroot.debian"]

  # Runs inside the image through refit-chroot's chroot; packages it needs (sudo, nftables,
  # auditd, …) come from the image's own repositories.
  provisioner "refit-harden" {
    report = "harden-report.json"
    # No AIDE in this pipeline: refit-patch changes packages after this build, so a database
    # AIDE built here would report their files at its first check, and an aide-common update
    # runs its postinst at the first boot. Add AIDE where the image is final (a last
    # refit-harden with only the AIDE rules, or aideinit at first boot). See "AIDE" in
    # docs/provisioners/harden.mdx.
    skip = ["packages.install.aide", "integrity.aide-database"]

    user {
      name                = var.admin_user
      sudo                = "nopasswd"
      ssh_authorized_keys = [var.ssh_public_key]
    }

    network {
      hostname    = var.hostname
      domain      = var.domain
      dns_servers = var.dns_servers
      dns_search  = [var.domain]
      ntp_servers = var.ntp_servers
    }

    firewall {
      allow_tcp = [443]
    }

    # A GRUB superuser password when one is given (-var grub_password_hash=...): the block is
    # left out otherwise.
    dynamic "bootloader" {
      for_each = var.grub_password_hash == "" ? [] : [var.grub_password_hash]
      content {
        password_hash = bootloader.value
      }
    }
  }

  # Patches the hardened image offline into debian-12-golden-patched.qcow2 beside it: scripts
  # proven safe run offline, the rest wait for a one-shot first-boot service.
  post-processor "refit-patch" {
    repository {
      name    = "security"
      type    = "deb"
      url     = var.security_mirror
      suite   = "bookworm-security"
      gpg_key = var.keyring
    }
    repository {
      name    = "updates"
      type    = "deb"
      url     = var.mirror
      suite   = "bookworm-updates"
      gpg_key = var.keyring
    }
    repository {
      name    = "base"
      type    = "deb"
      url     = var.mirror
      suite   = "bookworm"
      gpg_key = var.keyring
    }
    require_signatures = true
    scriptlets         = "analyze"
    kernel             = "offline"
    report             = "patch-report.json"
  }
}

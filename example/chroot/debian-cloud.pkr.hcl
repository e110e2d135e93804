# Take a distribution's cloud image, update and harden it offline, and get a new qcow2 —
# no VM is booted. Run as root (loop devices and mounts):
#
#   curl -LO https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2
#   sudo packer build -var source_image=debian-12-genericcloud-amd64.qcow2 example/chroot
#
# The result is output-debian/debian-12-hardened.qcow2 with its .sha256 checksum, its
# package manifest (.manifest.json, the refit-manifest/v1 format refit-repodiff reads) and its
# SBOMs (.cdx.json, CycloneDX 1.6; .spdx.json, SPDX 2.3). example/hcp-sbom records it in HCP Packer.

variable "source_image" {
  type        = string
  description = "The cloud image to start from (qcow2 or raw)."
  default     = "debian-12-genericcloud-amd64.qcow2"
}

variable "source_image_checksum" {
  type        = string
  description = "Its checksum, sha256:<hex>; empty to skip the check."
  default     = ""
}

variable "admin_key" {
  type        = string
  description = "An SSH public key for the admin user."
  default     = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGV4YW1wbGUga2V5IG9ubHkgLSByZXBsYWNlIG1lIQ admin@example"
}

source "refit-chroot" "debian" {
  source_image          = var.source_image
  source_image_checksum = var.source_image_checksum
  output_image_name     = "debian-12-hardened.qcow2"
  output_format         = "qcow2"
  output_compress       = true
  sbom_formats          = ["cyclonedx-json", "spdx-json"] # the default; [] writes none
}

build {
  sources = ["source.refit-chroot.debian"]

  # Runs inside the image (chroot): the image's own apt, with DNS from the host's resolv.conf.
  provisioner "shell" {
    environment_vars = ["DEBIAN_FRONTEND=noninteractive"]
    inline = [
      "apt-get -q update",
      "apt-get -q -y -o Dpkg::Options::=--force-confold upgrade",
      "apt-get -q -y install --no-install-recommends unattended-upgrades nftables",
      "apt-get -q clean",
      "useradd --create-home --shell /bin/bash --groups sudo admin",
      "install -d -m 700 -o admin -g admin /home/admin/.ssh",
      "echo '${var.admin_key}' > /home/admin/.ssh/authorized_keys",
      "chown admin:admin /home/admin/.ssh/authorized_keys && chmod 600 /home/admin/.ssh/authorized_keys",
      "printf 'PermitRootLogin no\\nPasswordAuthentication no\\n' > /etc/ssh/sshd_config.d/50-hardening.conf",
      "echo 'admin ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/admin && chmod 440 /etc/sudoers.d/admin",
      "systemctl enable nftables unattended-upgrades",
      # The image boots elsewhere: no machine identity of its own.
      "truncate -s 0 /etc/machine-id",
    ]
  }

  # The build variables tell what was found in the image.
  post-processor "manifest" {
    output     = "output-debian/packer-manifest.json"
    strip_path = true
    custom_data = {
      os_id           = "${build.OSID}"
      os_version_id   = "${build.OSVersionID}"
      package_manager = "${build.PackageManager}"
    }
  }
}

# Patches a Debian 12 image offline against the security and updates suites, without booting it:
#   sudo packer build -var image=debian-12.qcow2 -var mirror=https://deb.example.org example/patch
# The patched image is written beside the input as debian-12-patched.qcow2 (the input is only
# read), with its package manifest and a JSON report of what was updated and what waits for the
# first boot.

packer {
  required_plugins {
    refit = {
      source  = "github.com/refit-images/refit"
      version = ">= 0.1.0"
    }
  }
}

variable "image" {
  type        = string
  description = "The qcow2 or raw image to patch."
  default     = "debian-12.qcow2"
}

variable "mirror" {
  type        = string
  description = "Debian mirror (the folder holding dists/)."
  default     = "https://deb.example.org/debian"
}

variable "security_mirror" {
  type    = string
  default = "https://deb.example.org/debian-security"
}

variable "keyring" {
  type    = string
  default = "/usr/share/keyrings/debian-archive-keyring.gpg"
}

# The image itself is the artifact: refit-chroot opens it, runs no provisioner, and hands it on.
source "refit-chroot" "debian" {
  source_image     = var.image
  output_directory = "output-patch"
  package_manifest = true
}

build {
  sources = ["source.refit-chroot.debian"]

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
    report             = "output-patch/report.json"
    # SBOMs of the patched image (its new package set) beside it: the default; [] writes none.
    sbom_formats = ["cyclonedx-json", "spdx-json"]
  }
}

# Nightly fleet rebuild: refit-fleet finds which images of the fleet have updates, and only
# those are rebuilt and patched. Run it with nightly.sh: it builds "plan" first, which
# writes the names of the outdated images (data.refit-fleet.fleet.outdated) to a file,
# then builds "rebuild" once per name in it, and nothing at all when the fleet is current:
#   sudo ./example/fleet-nightly/nightly.sh -var images_dir=/srv/images

packer {
  required_plugins {
    refit = {
      source  = "github.com/refit-images/refit"
      version = ">= 0.1.0"
    }
  }
}

variable "images_dir" {
  type        = string
  description = "Folder of the golden images, each with its <image>.qcow2.manifest.json beside it."
  default     = "/srv/images"
}

variable "image" {
  type        = string
  description = "The image the rebuild step works on (nightly.sh sets it from the plan)."
  default     = "none"
}

variable "plan_file" {
  type    = string
  default = "nightly-plan.txt"
}

variable "mirror" {
  type    = string
  default = "https://deb.example.org/debian"
}

variable "security_mirror" {
  type    = string
  default = "https://deb.example.org/debian-security"
}

variable "keyring" {
  type    = string
  default = "/usr/share/keyrings/debian-archive-keyring.gpg"
}

data "refit-fleet" "fleet" {
  manifests = ["${var.images_dir}/*.manifest.json"]

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

  html_report = "nightly-fleet.html"
  json_report = "nightly-fleet.json"
}

# Step 1: the images that need a rebuild, one name a line (nightly.sh reads it).
source "file" "plan" {
  content = join("", [for name in data.refit-fleet.fleet.outdated : "${name}\n"])
  target  = var.plan_file
}

# Step 2, once per outdated image: rebuild it from its golden image and patch it.
source "refit-chroot" "image" {
  source_image      = "${var.images_dir}/${var.image}.qcow2"
  output_directory  = "output-nightly/${var.image}"
  output_image_name = "${var.image}.qcow2"
}

build {
  name    = "plan"
  sources = ["source.file.plan"]
}

build {
  name    = "rebuild"
  sources = ["source.refit-chroot.image"]

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
    require_signatures = true
    report             = "output-nightly/${var.image}/patch-report.json"
  }
}

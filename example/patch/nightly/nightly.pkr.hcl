# Nightly re-patch pipeline: the refit-repodiff data source reads the golden image's manifest and
# diffs it against the mirrors; only when it finds updates (count > 0) is the image rebuilt and
# patched with exactly those updates. Run it with nightly.sh, which builds file.check first and
# the patch build only when the count it wrote is above zero:
#   sudo ./example/patch/nightly/nightly.sh -var golden_image=/srv/images/golden.qcow2

packer {
  required_plugins {
    refit = {
      source  = "github.com/refit-images/refit"
      version = ">= 0.1.0"
    }
  }
}

variable "golden_image" {
  type    = string
  default = "/srv/images/golden.qcow2"
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

variable "count_file" {
  type    = string
  default = "nightly-count.txt"
}

data "refit-repodiff" "golden" {
  # refit-chroot writes <image>.manifest.json beside every image it builds.
  manifest = "${var.golden_image}.manifest.json"

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
}

# Step 1: write how many updates there are (nightly.sh reads it).
source "file" "check" {
  content = "${data.refit-repodiff.golden.count}\n"
  target  = var.count_file
}

# Step 2 (only when the count is above zero): rebuild from the golden image and patch it.
source "refit-chroot" "golden" {
  source_image     = var.golden_image
  output_directory = "output-nightly"
}

build {
  name    = "check"
  sources = ["source.file.check"]
}

build {
  name    = "patch"
  sources = ["source.refit-chroot.golden"]

  post-processor "refit-patch" {
    # Exactly the updates the data source found; the repositories check them again.
    updates_json = jsonencode(data.refit-repodiff.golden.updates)
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
    report             = "output-nightly/report.json"
  }
}

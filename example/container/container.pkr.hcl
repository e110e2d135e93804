# Patches a Debian 12 container image offline, without a container engine or a daemon:
#   podman save --format oci-archive -o debian-app.oci.tar localhost/debian-app:1
#   sudo packer build -var image=debian-app.oci.tar -var mirror=https://deb.example.org example/container
#   podman load -i output-container/debian-app.oci-patched.tar
# The file builder hands the image on as a file artifact; refit-patch detects the container image
# (an oci-archive here; an OCI layout directory or a docker-archive work the same) and writes the
# patched image in the same format: the original layers untouched plus one new layer holding what
# the patch changed, with a package manifest and a JSON report beside it.

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
  description = "The container image to patch: an oci-archive or docker-archive tarball."
  default     = "debian-app.oci.tar"
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

source "file" "image" {
  source = var.image
  target = "output-container/debian-app.oci.tar"
}

build {
  sources = ["source.file.image"]

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
    # A container has no first boot: a package whose scripts are unsafe offline is held back
    # and named in the report ("hold", the default), or installed now with its scripts run
    # at patch time ("run").
    container_scripts = "hold"
    # For a multi-arch index: the platform to patch (default: each one).
    # platform = "linux/amd64"
    report = "output-container/patch-report.json"
  }
}

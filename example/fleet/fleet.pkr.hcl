# What does each image of a fleet need? refit-fleet reads every image's manifest (the
# <image>.manifest.json refit-chroot writes beside each image), loads each repository once
# for the whole fleet, and answers per image as refit-repodiff would; it also writes a
# report a person can open in a browser (fleet.html) and the same in JSON.
#   packer build -var 'manifests=["/srv/images/*.manifest.json"]' example/fleet

packer {
  required_plugins {
    refit = {
      source  = "github.com/refit-images/refit"
      version = ">= 0.1.0"
    }
  }
}

variable "manifests" {
  type        = list(string)
  description = "Paths or globs of the images' refit-manifest/v1 files."
  default     = ["/srv/images/*.manifest.json"]
}

variable "rocky9_baseos" {
  type    = string
  default = "https://mirror.example.com/rocky/9/BaseOS/x86_64/os"
}

variable "rocky9_appstream" {
  type    = string
  default = "https://mirror.example.com/rocky/9/AppStream/x86_64/os"
}

variable "rocky8_baseos" {
  type    = string
  default = "https://mirror.example.com/rocky/8/BaseOS/x86_64/os"
}

variable "debian_security" {
  type    = string
  default = "https://mirror.example.com/debian-security"
}

data "refit-fleet" "all" {
  manifests = var.manifests

  # rpm-md repositories serve rpm images, deb repositories dpkg images; os_id and
  # os_version_id narrow them to a distribution and release.
  repository {
    name          = "rocky9-baseos"
    url           = var.rocky9_baseos
    os_id         = ["rocky", "rhel"]
    os_version_id = ["9*"]
  }
  repository {
    name          = "rocky9-appstream"
    url           = var.rocky9_appstream
    os_id         = ["rocky", "rhel"]
    os_version_id = ["9*"]
  }
  repository {
    name          = "rocky8-baseos"
    url           = var.rocky8_baseos
    os_version_id = ["8*"]
  }
  repository {
    name          = "debian-security"
    type          = "deb"
    url           = var.debian_security
    suite         = "bookworm-security"
    gpg_key       = "/usr/share/keyrings/debian-archive-keyring.gpg"
    os_id         = ["debian"]
    os_version_id = ["12"]
  }

  html_report = "fleet.html"
  json_report = "fleet.json"
}

source "file" "summary" {
  content = jsonencode({
    outdated    = data.refit-fleet.all.outdated
    total_count = data.refit-fleet.all.total_count
    cves        = data.refit-fleet.all.cves
    images      = data.refit-fleet.all.images
  })
  target = "fleet-summary.json"
}

build {
  sources = ["source.file.summary"]

  post-processor "shell-local" {
    inline = [
      "echo '${data.refit-fleet.all.total_count} updates pending; images to rebuild: ${join(" ", data.refit-fleet.all.outdated)}'",
      "echo 'report: fleet.html'",
    ]
  }
}

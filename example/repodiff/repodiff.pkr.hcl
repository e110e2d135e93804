# Which packages of an image root are outdated, and which advisories/CVEs do the updates fix?
# `make demo` runs this against repositories and a root built from testdata/rpmlab:
#   packer build -var rootfs=... -var base_url=... -var updates_url=... example/repodiff

variable "rootfs" {
  type        = string
  description = "Root filesystem of the image (a mounted image, or a chroot tree)."
  default     = "/srv/images/rocky9-root"
}

variable "base_url" {
  type        = string
  description = "Base OS repository (the folder holding repodata/)."
  default     = "https://mirror.example.com/rocky/9/BaseOS/x86_64/os"
}

variable "updates_url" {
  type        = string
  description = "Updates repository with updateinfo (advisories)."
  default     = "https://mirror.example.com/rocky/9/AppStream/x86_64/os"
}

variable "report" {
  type    = string
  default = "outdated.json"
}

data "refit-repodiff" "image" {
  rootfs = var.rootfs

  repository {
    name = "base"
    url  = var.base_url
  }
  repository {
    name = "updates"
    url  = var.updates_url
  }
}

data "refit-repodiff" "security" {
  rootfs        = var.rootfs
  security_only = true
  min_severity  = "Important"

  repository {
    name = "base"
    url  = var.base_url
  }
  repository {
    name = "updates"
    url  = var.updates_url
  }
}

locals {
  summary = [for u in data.refit-repodiff.image.updates :
  format("%-20s %-7s %-8s %s -> %s [%s] %s", u.name, u.arch, u.action, u.installed, u.available, u.repository, join(",", u.advisories))]
}

source "file" "report" {
  content = jsonencode({
    all      = data.refit-repodiff.image
    security = data.refit-repodiff.security
  })
  target = var.report
}

build {
  sources = ["source.file.report"]

  # A fixed number of commands, so that `packer validate` (which does not run data
  # sources) accepts the template too.
  post-processor "shell-local" {
    inline = [
      "echo '${data.refit-repodiff.image.count} updates (${data.refit-repodiff.image.security_count} security) for ${data.refit-repodiff.image.os_id} ${data.refit-repodiff.image.os_version_id}:'",
      "printf '  %s\\n' ${join(" ", formatlist("'%s'", local.summary))}",
      "echo 'CVEs fixed: ${join(" ", data.refit-repodiff.image.cves)}'",
      "echo 'Important or worse security updates: ${join(" ", [for u in data.refit-repodiff.security.updates : u.name])}'",
    ]
  }
}

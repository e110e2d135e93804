# Hardens a booted Debian/Ubuntu/RHEL-family VM over SSH with refit-harden.
#   packer build -var host=192.0.2.10 example/harden     (logs in with the keys of your ssh-agent)
# With source "refit-chroot" the same provisioner block hardens an image offline, without booting
# it (see docs/provisioners/harden.mdx); there firewall.allow_ssh may be false.

packer {
  required_plugins {
    refit = {
      source  = "github.com/refit-images/refit"
      version = ">= 0.1.0"
    }
  }
}

variable "host" {
  type        = string
  description = "Address of the booted VM."
  default     = "192.0.2.10"
}

variable "ssh_username" {
  type    = string
  default = "debian"
}

variable "deploy_key" {
  type        = string
  description = "Public key of the deploy user."
  default     = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKe/9ckEBvdOvmnqg9lDwNNdxDbQS6C4cN8UhE77xhcM deploy@example.com"
}

source "null" "vm" {
  communicator   = "ssh"
  ssh_host       = var.host
  ssh_username   = var.ssh_username
  ssh_agent_auth = true
}

build {
  sources = ["source.null.vm"]

  provisioner "refit-harden" {
    profile = "baseline"
    skip    = ["modules.udf", "sysctl.net.ipv6.*"]
    report  = "harden-report.json"
    fail_on = "verify"

    ssh {
      # the build logs in as var.ssh_username: keep it allowed while the build runs
      allow_users    = [var.ssh_username, "deploy"]
      max_auth_tries = 3
    }

    user {
      name                = "deploy"
      groups              = ["adm"]
      sudo                = "nopasswd"
      ssh_authorized_keys = [var.deploy_key]
    }

    remove_users = ["olduser"]

    network {
      hostname    = "web01"
      domain      = "example.com"
      dns_servers = ["192.0.2.53"]
      dns_search  = ["example.com"]
      ntp_servers = ["0.pool.ntp.org", "1.pool.ntp.org"]
    }

    firewall {
      backend       = "auto"
      allow_tcp     = [80, 443]
      allow_sources = ["10.0.0.0/8"]
    }
  }
}

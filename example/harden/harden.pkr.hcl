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

    # Your log server (systemd-journal-remote): systemd-journal-upload sends the journal there over
    # TLS. The key and certificates are paths on the VM that your PKI provides (systemd's defaults
    # shown); CIS Debian 12 6.1.2.1. Leave the block out to keep the VM's logging as it is.
    remote_logging {
      url                      = "https://logs.example.com:19532"
      server_key_file          = "/etc/ssl/private/journal-upload.pem"
      server_certificate_file  = "/etc/ssl/certs/journal-upload.pem"
      trusted_certificate_file = "/etc/ssl/ca/trusted.pem"
    }

    # Who reads root's mail (cron, AIDE's daily report): the root: line of /etc/aliases (ANSSI R75).
    root_mail_alias = "security@example.com"
  }
}

# Record an image refit made, with its SBOM, in HCP Packer. Run as root, after a build that wrote
# the image (example/chroot, example/pipeline), with HCP credentials in the environment
# (HCP_CLIENT_ID, HCP_CLIENT_SECRET; packer validate needs none):
#
#   sudo -E packer build -var image=output-debian/debian-12-hardened.qcow2 example/hcp-sbom
#
# Packer's hcp-sbom provisioner uploads an SBOM it downloads from the machine being built
# (`source`, through the communicator). refit writes its SBOMs after the provisioners, from the
# finished image, so this second build opens the finished image again: the file provisioner
# uploads the SBOM (a host file) into the image's /tmp, hcp-sbom downloads it from there, and a
# shell provisioner removes it. The hcp_packer_registry block records the artifact with the
# registry labels refit-chroot gives it (os_id, os_version_id, architecture, package_count,
# sha256, sbom_cyclonedx …). The record build's output holds the same packages as the image;
# its own SBOMs are turned off.

variable "image" {
  type        = string
  description = "The image refit wrote; its SBOM is <image>.cdx.json beside it."
  default     = "output-debian/debian-12-hardened.qcow2"
}

source "refit-chroot" "record" {
  source_image     = var.image
  output_directory = "output-record"
  copy_files       = []
  package_manifest = false
  sbom_formats     = []
}

build {
  hcp_packer_registry {
    bucket_name = "debian-12-golden"
    description = "Debian 12, hardened and patched offline by refit"
    bucket_labels = {
      "os" = "debian-12"
    }
  }

  sources = ["source.refit-chroot.record"]

  provisioner "file" {
    source      = "${var.image}.cdx.json"
    destination = "/tmp/refit-sbom.cdx.json"
    generated   = true # checked when the build reaches it, not by packer validate
  }

  provisioner "hcp-sbom" {
    source      = "/tmp/refit-sbom.cdx.json"
    destination = "output-record-sbom.cdx.json"
    sbom_name   = "refit-cyclonedx"
  }

  provisioner "shell" {
    inline = ["rm -f /tmp/refit-sbom.cdx.json"]
  }
}

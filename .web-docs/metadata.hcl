# For full specification of attributes and blocks see the Packer integrations portal docs.
integration {
  name = "refit"
  description = "Customize, harden and patch qcow2/raw VM images offline."
  identifier = "packer/refit-images/refit"
  flags = []
  docs {
    process_docs = true
    readme_location = "./README.md"
    external_url = "https://github.com/refit-images/packer-plugin-refit"
  }
  license {
    type = "MPL-2.0"
    url = "https://github.com/refit-images/packer-plugin-refit/blob/main/LICENSE"
  }
  component {
    type = "builder"
    name = "refit-chroot"
    slug = "chroot"
  }
  component {
    type = "provisioner"
    name = "refit-harden"
    slug = "harden"
  }
  component {
    type = "post-processor"
    name = "refit-patch"
    slug = "patch"
  }
  component {
    type = "data-source"
    name = "refit-fleet"
    slug = "fleet"
  }
  component {
    type = "data-source"
    name = "refit-repodiff"
    slug = "repodiff"
  }
}

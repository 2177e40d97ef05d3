provider "aws" {
  region = var.region

  # Every taggable resource gets these, so cost reports can be split by service.
  default_tags {
    tags = local.tags
  }
}

terraform {
  # 1.5 brings `check` blocks and the `import` block; nothing newer is used so that the
  # module runs on the Terraform most CI images still carry.
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.40.0 brought the WAF rate rule's evaluation_window_sec (waf.tf); 6.0 changes the
      # region handling of several resources used here.
      version = ">= 5.40.0, < 6.0.0"
    }
  }
}

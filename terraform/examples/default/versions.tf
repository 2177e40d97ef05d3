terraform {
  # The same bounds as the module's own versions.tf.
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40.0, < 6.0.0"
    }
  }

  # State holds resource ids: for a team, keep it in a remote backend, e.g.
  # backend "s3" {
  #   bucket       = "my-terraform-state"
  #   key          = "pls-service/terraform.tfstate"
  #   region       = "us-east-1"
  #   use_lockfile = true
  # }
}

# No provider "aws" block here: the module configures its own AWS provider from its `region`
# and `tags` inputs (terraform/providers.tf). Credentials come from the usual places (AWS_PROFILE,
# environment variables, SSO). A module with its own provider block cannot be called with
# count, for_each or depends_on; call it once per stack, as below.

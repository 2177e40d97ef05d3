# Test-only: written as emulated_override.tf into a temporary COPY of terraform/ by
# tests/e2e/test_deploy.py, never into terraform/ itself. Terraform merges *_override.tf files
# into the matching blocks, so this keeps the module's region and default_tags and adds fake
# credentials and one endpoint per service at the moto server.

provider "aws" {
  access_key = "testing"
  secret_key = "testing"

  skip_credentials_validation = true
  skip_metadata_api_check     = true
  # The account id is asked of moto's STS: without it the provider cannot tell this
  # account's security groups from another's and reports references as "account/sg-...".
  skip_requesting_account_id = false
  skip_region_validation      = true
  s3_use_path_style           = true
  # moto answers at once; fail fast instead of backing off for minutes on an error.
  max_retries = 3

  endpoints {
    acm                   = "@MOTO_URL@"
    applicationautoscaling = "@MOTO_URL@"
    cloudwatch            = "@MOTO_URL@"
    cloudwatchlogs        = "@MOTO_URL@"
    ec2                   = "@MOTO_URL@"
    ecr                   = "@MOTO_URL@"
    ecs                   = "@MOTO_URL@"
    elb                   = "@MOTO_URL@"
    elbv2                 = "@MOTO_URL@"
    events                = "@MOTO_URL@"
    iam                   = "@MOTO_URL@"
    kms                   = "@MOTO_URL@"
    s3                    = "@MOTO_URL@"
    sts                   = "@MOTO_URL@"
    wafv2                 = "@MOTO_URL@"
  }
}

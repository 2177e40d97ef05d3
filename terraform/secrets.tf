################################################################################
# API keys (optional): an existing Secrets Manager secret whose value is the key list
# (PLS_API_KEYS format: comma- or newline-separated). ECS reads it at task start and
# passes it as PLS_API_KEYS through the task definition's `secrets`, so the keys never
# appear in the task definition, the Terraform state or the outputs; only the ARN does.
################################################################################

variable "api_keys_secret_arn" {
  description = "Full ARN of a Secrets Manager secret holding the API keys (PLS_API_KEYS format), with the 6-character suffix AWS adds to the name (`aws secretsmanager describe-secret --secret-id NAME --query ARN`). Null: access control off. Put the keys in the secret with `aws secretsmanager put-secret-value`, never in tfvars."
  type        = string
  default     = null

  validation {
    # The execution role may read this exact ARN only: a partial ARN (no suffix) would leave
    # every task unable to read its keys, failing only at start.
    condition     = var.api_keys_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+-[A-Za-z0-9]{6}$", var.api_keys_secret_arn))
    error_message = "api_keys_secret_arn must be the full Secrets Manager secret ARN, ending in the 6-character suffix AWS adds to the name (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf); get it with `aws secretsmanager describe-secret --secret-id NAME --query ARN`."
  }
}

variable "api_keys_secret_kms_key_arn" {
  description = "Customer-managed KMS key that encrypts the API keys secret, if any (the execution role may then decrypt with it). Null: the secret uses the AWS-managed key."
  type        = string
  default     = null
}

locals {
  api_keys_enabled = var.api_keys_secret_arn != null
  # The container definition's `secrets`: the whole secret string becomes PLS_API_KEYS.
  container_secrets = local.api_keys_enabled ? [{ name = "PLS_API_KEYS", valueFrom = var.api_keys_secret_arn }] : []
}

# The ECS agent (execution role) fetches the secret; the application never calls AWS.
data "aws_iam_policy_document" "read_api_keys" {
  count = local.api_keys_enabled ? 1 : 0

  statement {
    sid       = "ReadTheApiKeysSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.api_keys_secret_arn]
  }

  dynamic "statement" {
    for_each = var.api_keys_secret_kms_key_arn == null ? [] : [var.api_keys_secret_kms_key_arn]
    content {
      sid       = "DecryptTheApiKeysSecret"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.${local.dns_suffix}"]
      }
    }
  }
}

resource "aws_iam_role_policy" "read_api_keys" {
  count = local.api_keys_enabled ? 1 : 0

  name   = "read-api-keys-secret"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.read_api_keys[0].json
}

variable "image_tag" {
  description = "Tag of the service image in the module's ECR repository (the bento version you pushed)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid Docker tag (letters, digits, _ . -, at most 128 characters)."
  }
}

variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"
}

variable "certificate_arn" {
  description = "ACM certificate for the HTTPS listener, in the same region (port 80 then redirects to 443). The module refuses an ALB open to 0.0.0.0/0 without one."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "api_keys_secret_arn" {
  description = "Full ARN (with AWS's 6-character suffix) of the Secrets Manager secret that holds the API keys. The module refuses an API open to 0.0.0.0/0 without keys or a WAF."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+-[A-Za-z0-9]{6}$", var.api_keys_secret_arn))
    error_message = "api_keys_secret_arn must be a full Secrets Manager secret ARN, ending in the 6-character suffix AWS adds to the name."
  }
}

variable "alarm_actions" {
  description = "ARNs (e.g. an SNS topic) notified when an alarm fires and when it recovers. Empty: alarms show in the console only."
  type        = list(string)
  default     = []
}

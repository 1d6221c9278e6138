# Inputs of the Mangaflow deployment. Secrets are never inputs: Terraform generates its own and
# keeps them in Secret Manager; the two that come from outside (the Slack token, the review-link
# webhook URL) are put into Secret Manager by the operator and only read here (infra/README.md).

variable "project_id" {
  description = "Google Cloud project that hosts Mangaflow."
  type        = string
}

variable "region" {
  description = "Region of every regional resource (the design: Tokyo)."
  type        = string
  default     = "asia-northeast1"
}

variable "zone" {
  description = "Preferred zone of the Cloud SQL primary and the Memorystore instance."
  type        = string
  default     = "asia-northeast1-a"
}

variable "environment" {
  description = "dev, staging or production; set as ENVIRONMENT on every function."
  type        = string
  default     = "production"

  validation {
    condition     = contains(["dev", "staging", "production"], var.environment)
    error_message = "environment must be dev, staging or production."
  }
}

variable "function_source_zip" {
  description = "Path of the bundle made by scripts/package_functions.sh (functions/ plus schemas/)."
  type        = string
}

variable "workflow_source" {
  description = "The Cloud Workflows definition that stitches the phase functions together."
  type        = string
  default     = "../workflows/manga_pipeline.workflows.yaml"
}

variable "provider_kind" {
  description = "MANGAFLOW_PROVIDER of the functions: vertex in the cloud, simulated for load tests."
  type        = string
  default     = "vertex"

  validation {
    condition     = contains(["vertex", "simulated", "offline"], var.provider_kind)
    error_message = "provider_kind must be vertex, simulated or offline."
  }
}

variable "vertex_location" {
  description = "Vertex AI location of the Gemini text and image models (the code's default too: the image models are served from the global endpoint)."
  type        = string
  default     = "global"
}

variable "text_model" {
  description = "Gemini text model id the phase functions ask (MANGAFLOW_TEXT_MODEL)."
  type        = string
  default     = "gemini-2.5-flash"
}

variable "image_model" {
  description = "Gemini image model id that draws character sheets and panels (MANGAFLOW_IMAGE_MODEL)."
  type        = string
  default     = "gemini-2.5-flash-image"
}

variable "default_budget_usd" {
  description = "Model spend allowed per request when the request names no budget (MANGAFLOW_DEFAULT_BUDGET_USD)."
  type        = number
  default     = 1.0

  validation {
    condition     = var.default_budget_usd > 0 && var.default_budget_usd <= 100
    error_message = "default_budget_usd must be above 0 and at most 100."
  }
}

variable "domain" {
  description = "Host name of the HTTPS load balancer (a DNS A record must point at output edge_ip_address). The public functions, the review pages and the CDN images are all served under it; MANGAFLOW_PUBLIC_URL is https://<domain>."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain))
    error_message = "domain must be a lower-case DNS name such as manga.example.com."
  }
}

variable "auth_audience" {
  description = "Audience the public functions require in callers' Google ID tokens (MANGAFLOW_AUTH_AUDIENCE): the Identity Platform project id or the OAuth client id of the front end."
  type        = string
  default     = ""
}

variable "log_level" {
  description = "LOG_LEVEL of the functions (the design: DEBUG in dev, INFO in staging, WARN in production)."
  type        = string
  default     = "WARN"
}

variable "db_tier" {
  description = "Cloud SQL machine type. 1 vCPU / 3.75 GB as in the design (its 'db-standard-1' is not a Cloud SQL tier name)."
  type        = string
  default     = "db-custom-1-3840"
}

variable "db_disk_size_gb" {
  description = "Initial SSD size of Cloud SQL; it grows automatically up to db_disk_limit_gb."
  type        = number
  default     = 100
}

variable "db_disk_limit_gb" {
  description = "Upper bound of Cloud SQL storage auto-increase."
  type        = number
  default     = 500
}

variable "redis_memory_gb" {
  description = "Memorystore size: 1 GB once previews moved to Cloud Storage + CDN (the optimised design)."
  type        = number
  default     = 1
}

variable "psa_range_cidr" {
  description = "Range handed to Private Service Access for Cloud SQL and Memorystore; must not overlap the VPC."
  type        = string
  default     = "10.10.0.0/16"
}

variable "cors_origins" {
  description = "Origins, besides https://<domain>, allowed to load CDN images from a browser."
  type        = list(string)
  default     = []
}

variable "signed_url_ttl_seconds" {
  description = "Lifetime of the signed CDN URLs the functions hand out for images (MANGAFLOW_CDN_URL_TTL_S); also how long the CDN keeps a signed response fresh."
  type        = number
  default     = 900

  validation {
    condition     = var.signed_url_ttl_seconds >= 60 && var.signed_url_ttl_seconds <= 86400
    error_message = "signed_url_ttl_seconds must be between 60 and 86400."
  }
}

variable "edge_rate_limit_per_minute" {
  description = "Requests per minute one client address may send through the load balancer before Cloud Armor bans it (the design: 1000)."
  type        = number
  default     = 1000
}

variable "edge_ban_seconds" {
  description = "How long Cloud Armor bans an address that went over edge_rate_limit_per_minute."
  type        = number
  default     = 600
}

variable "waf_sensitivity" {
  description = "Sensitivity level of the preconfigured Cloud Armor WAF rules (1 = fewest false positives)."
  type        = number
  default     = 1

  validation {
    condition     = contains([1, 2, 3, 4], var.waf_sensitivity)
    error_message = "waf_sensitivity must be 1, 2, 3 or 4."
  }
}

variable "waf_preview" {
  description = "Run the preconfigured WAF rules in preview (logged, not enforced): to measure false positives on story text before enforcing."
  type        = bool
  default     = false
}

variable "alert_emails" {
  description = "E-mail addresses that receive the HITL alerts (timeout rate, long sessions, dead letters)."
  type        = list(string)
  default     = []
}

variable "slack_channel_name" {
  description = "Slack channel (e.g. #manga-alerts) for the HITL alerts; empty for none. Its token is read from the secret manga-slack-auth-token, created by the operator first."
  type        = string
  default     = ""
}

variable "review_webhook" {
  description = "Also send every review link to a webhook whose URL the operator keeps in the secret manga-review-webhook-url (MANGAFLOW_REVIEW_WEBHOOK_URL of hitl_feedback_processor)."
  type        = bool
  default     = false
}

variable "hitl_timeout_rate_threshold" {
  description = "Alert when the share of approval gates that time out goes above this (the design: 0.3)."
  type        = number
  default     = 0.3
}

variable "hitl_session_max_seconds" {
  description = "A HITL session open longer than this triggers cleanup through the session-management topic (the design: 30 minutes)."
  type        = number
  default     = 1800
}

variable "hitl_alert_window_seconds" {
  description = "Alignment window of the HITL alert conditions."
  type        = number
  default     = 300
}

variable "break_glass_members" {
  description = "Members who may read the emergency database password secrets (manga-db-password, manga-database-url); no function reads them."
  type        = list(string)
  default     = []
}

variable "phase_min_instances" {
  description = "Warm instances per phase function (the design: 1 against cold starts). 0 saves money in dev."
  type        = number
  default     = 1
}

variable "phase_max_instances" {
  description = "Instance cap per phase function (the design: 50)."
  type        = number
  default     = 50
}

variable "deletion_protection" {
  description = "Protect Cloud SQL, the BigQuery tables and the workflow from terraform destroy."
  type        = bool
  default     = true
}

variable "cicd_roles" {
  description = "Project roles of the Cloud Build service account that runs tests, packaging and terraform apply."
  type        = list(string)
  default = [
    # From the design (section 5.1):
    "roles/run.developer",
    "roles/cloudbuild.builds.editor",
    "roles/storage.admin",
    "roles/iam.serviceAccountUser",
    # What applying this configuration needs beyond them:
    "roles/cloudfunctions.developer",
    "roles/workflows.editor",
    "roles/cloudscheduler.admin",
    "roles/viewer",
  ]
}

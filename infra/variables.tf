# Inputs of the Mangaflow deployment. Secrets are never inputs: Terraform generates them and
# keeps them in Secret Manager.

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
  description = "Vertex AI location of the Gemini text and image models."
  type        = string
  default     = "asia-northeast1"
}

variable "public_url" {
  description = "Base URL where people open approval (review) pages; MANGAFLOW_PUBLIC_URL of the functions."
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
  description = "Origins allowed to read the CDN buckets from a browser."
  type        = list(string)
  default     = ["https://manga-service.com", "https://www.manga-service.com"]
}

variable "public_cdn_buckets" {
  description = "Let allUsers read output images and the preview cache (served through Cloud CDN, as in the design). Set false where an organisation policy forbids public buckets."
  type        = bool
  default     = true
}

variable "storage_kms_key" {
  description = "Optional Cloud KMS key (full resource id) for the input data bucket, as the design does; null uses Google-managed keys."
  type        = string
  default     = null
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

variable "client_invokers" {
  description = "Members (user:, group:, serviceAccount:) allowed to start generations, read status, chat and answer approval gates."
  type        = list(string)
  default     = []
}

variable "scheduler_time_zone" {
  description = "Time zone of the scheduled jobs. UTC, because the analytics days are UTC days."
  type        = string
  default     = "Etc/UTC"
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

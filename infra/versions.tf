# Terraform and provider versions. The state lives in a GCS bucket given at init time:
#   terraform init -backend-config="bucket=<state bucket>" -backend-config="prefix=mangaflow"
terraform {
  required_version = ">= 1.6.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # 7.21 added Direct VPC egress for Cloud Functions (2nd gen); stay on the 7.x line.
      version = "~> 7.30"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
  }

  backend "gcs" {}
}

provider "google" {
  project = var.project_id
  region  = var.region
}

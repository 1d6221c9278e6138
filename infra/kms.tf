# One Cloud KMS key for the data Mangaflow keeps at rest beyond Google's default encryption: the
# input stories (design 4.3), the analytics dataset and the Pub/Sub topics. Each Google service
# that encrypts with it gets encrypt/decrypt on this key only, through its own service agent.

data "google_project" "this" {
  project_id = var.project_id
}

data "google_storage_project_service_account" "gcs" {
  project = var.project_id
}

data "google_bigquery_default_service_account" "bigquery" {
  project = var.project_id
}

locals {
  # Google-managed identities of this project, by what they do for Mangaflow.
  service_agents = {
    pubsub     = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
    monitoring = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-monitoring-notification.iam.gserviceaccount.com"
    cdn_fill   = "serviceAccount:service-${data.google_project.this.number}@cloud-cdn-fill.iam.gserviceaccount.com"
    storage    = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
    bigquery   = "serviceAccount:${data.google_bigquery_default_service_account.bigquery.email}"
  }

  # The agents that encrypt Mangaflow data with the key.
  kms_users = ["pubsub", "storage", "bigquery"]
}

resource "google_kms_key_ring" "manga" {
  name     = "manga-keyring"
  location = var.region

  depends_on = [google_project_service.api]
}

resource "google_kms_crypto_key" "data" {
  name            = "manga-data-key"
  key_ring        = google_kms_key_ring.manga.id
  purpose         = "ENCRYPT_DECRYPT"
  rotation_period = "7776000s" # 90 days

  # Destroying the key makes everything encrypted with it unreadable.
  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key_iam_member" "service_agent" {
  for_each = toset(local.kms_users)

  crypto_key_id = google_kms_crypto_key.data.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.service_agents[each.key]
}

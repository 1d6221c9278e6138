# The six buckets of the design (4.3) with their lifecycle rules, the bucket that holds the
# function bundles and the bucket that keeps their access logs. Every bucket is private: uniform
# bucket-level access and public access prevention enforced. People see images only through
# short-lived signed URLs on the CDN (edge.tf) or through a function, never a public bucket (the
# design made output images and previews public for the CDN; that is what issue 7 removed).

locals {
  # cdn = served by Cloud CDN through a backend bucket (edge.tf), read by the CDN's fill account.
  buckets = {
    input_data = {
      name       = "manga-input-data"
      versioning = true
      cdn        = false
      cors       = false
      lifecycle_rules = [
        { age = 90, action = "Delete", storage_class = null },
      ]
    }
    output_images = {
      name            = "manga-output-images"
      versioning      = false
      cdn             = true
      cors            = true
      lifecycle_rules = []
    }
    preview_cache = {
      name       = "manga-preview-cache"
      versioning = false
      cdn        = true
      cors       = true
      lifecycle_rules = [
        { age = 30, action = "Delete", storage_class = null },
      ]
    }
    version_snapshots = {
      name       = "manga-version-snapshots"
      versioning = true
      cdn        = false
      cors       = false
      lifecycle_rules = [
        { age = 7, action = "SetStorageClass", storage_class = "NEARLINE" },
        { age = 60, action = "Delete", storage_class = null },
      ]
    }
    final_products = {
      name       = "manga-final-products"
      versioning = false
      cdn        = false
      cors       = false
      lifecycle_rules = [
        { age = 30, action = "SetStorageClass", storage_class = "NEARLINE" },
        { age = 365, action = "SetStorageClass", storage_class = "COLDLINE" },
      ]
    }
    temp_data = {
      name       = "manga-temp-data"
      versioning = false
      cdn        = false
      cors       = false
      lifecycle_rules = [
        { age = 7, action = "Delete", storage_class = null },
      ]
    }
  }
}

resource "google_storage_bucket" "bucket" {
  #checkov:skip=CKV_GCP_78:Versioning is set per bucket from local.buckets: on for input_data and version_snapshots; the others hold re-creatable or expiring data whose lifecycle rules must really delete it.
  for_each = local.buckets

  name                        = "${var.project_id}-${each.value.name}"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = each.value.versioning
  }

  logging {
    log_bucket        = google_storage_bucket.access_logs.name
    log_object_prefix = each.value.name
  }

  dynamic "lifecycle_rule" {
    for_each = each.value.lifecycle_rules
    content {
      condition {
        age = lifecycle_rule.value.age
      }
      action {
        type          = lifecycle_rule.value.action
        storage_class = lifecycle_rule.value.storage_class
      }
    }
  }

  # Browsers load CDN images from the review pages' origin.
  dynamic "cors" {
    for_each = each.value.cors ? [1] : []
    content {
      origin          = concat(["https://${var.domain}"], var.cors_origins)
      method          = ["GET", "HEAD"]
      response_header = ["Content-Type", "Cache-Control", "ETag"]
      max_age_seconds = 3600
    }
  }

  # The design encrypts the input data with its own key (design 4.3).
  dynamic "encryption" {
    for_each = each.key == "input_data" ? [google_kms_crypto_key.data.id] : []
    content {
      default_kms_key_name = encryption.value
    }
  }

  depends_on = [google_project_service.api, google_kms_crypto_key_iam_member.service_agent]
}

# The functions own their artifacts: object admin on each Mangaflow bucket, not on the project.
resource "google_storage_bucket_iam_member" "runtime_objects" {
  for_each = {
    for pair in setproduct(keys(local.buckets), local.runtime_accounts) :
    "${pair[0]}:${pair[1]}" => { bucket = pair[0], account = pair[1] }
  }

  bucket = google_storage_bucket.bucket[each.value.bucket].name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.account[each.value.account].member
}

# Function bundles, one object per content hash; old bundles go after 30 days.
resource "google_storage_bucket" "function_source" {
  #checkov:skip=CKV_GCP_78:Bundles are immutable objects named by their SHA-256; a new version is a new object, so versioning would only keep deleted bundles.
  name                        = "${var.project_id}-manga-function-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  logging {
    log_bucket        = google_storage_bucket.access_logs.name
    log_object_prefix = "manga-function-source"
  }

  lifecycle_rule {
    condition {
      age = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.api]
}

# Usage and storage logs of every other bucket, kept 90 days.
resource "google_storage_bucket" "access_logs" {
  #checkov:skip=CKV_GCP_62:This is the access-log bucket itself; logging it into itself would loop.
  #checkov:skip=CKV_GCP_78:Log objects are written once and removed by the 90-day rule; versioning would keep them past it.
  name                        = "${var.project_id}-manga-access-logs"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  lifecycle_rule {
    condition {
      age = 90
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.api]
}

# Cloud Storage writes usage logs as this Google group (the documented way with uniform access).
resource "google_storage_bucket_iam_member" "access_logs_writer" {
  bucket = google_storage_bucket.access_logs.name
  role   = "roles/storage.objectCreator"
  member = "group:cloud-storage-analytics@google.com"
}

# The six buckets of the design (4.3) with their lifecycle rules, plus the bucket that holds the
# function bundles. Every bucket uses uniform bucket-level access.

locals {
  buckets = {
    input_data = {
      name       = "manga-input-data"
      versioning = true
      public     = false
      cors       = false
      lifecycle_rules = [
        { age = 90, action = "Delete", storage_class = null },
      ]
    }
    output_images = {
      name            = "manga-output-images"
      versioning      = false
      public          = true
      cors            = true
      lifecycle_rules = []
    }
    preview_cache = {
      name       = "manga-preview-cache"
      versioning = false
      public     = true
      cors       = true
      lifecycle_rules = [
        { age = 30, action = "Delete", storage_class = null },
      ]
    }
    version_snapshots = {
      name       = "manga-version-snapshots"
      versioning = true
      public     = false
      cors       = false
      lifecycle_rules = [
        { age = 7, action = "SetStorageClass", storage_class = "NEARLINE" },
        { age = 60, action = "Delete", storage_class = null },
      ]
    }
    final_products = {
      name       = "manga-final-products"
      versioning = false
      public     = false
      cors       = false
      lifecycle_rules = [
        { age = 30, action = "SetStorageClass", storage_class = "NEARLINE" },
        { age = 365, action = "SetStorageClass", storage_class = "COLDLINE" },
      ]
    }
    temp_data = {
      name       = "manga-temp-data"
      versioning = false
      public     = false
      cors       = false
      lifecycle_rules = [
        { age = 7, action = "Delete", storage_class = null },
      ]
    }
  }
}

resource "google_storage_bucket" "bucket" {
  for_each = local.buckets

  name                        = "${var.project_id}-${each.value.name}"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = each.value.public && var.public_cdn_buckets ? "inherited" : "enforced"

  versioning {
    enabled = each.value.versioning
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

  dynamic "cors" {
    for_each = each.value.cors ? [1] : []
    content {
      origin          = var.cors_origins
      method          = ["GET", "HEAD"]
      response_header = ["Content-Type", "Cache-Control", "ETag"]
      max_age_seconds = 3600
    }
  }

  dynamic "encryption" {
    for_each = each.key == "input_data" && var.storage_kms_key != null ? [var.storage_kms_key] : []
    content {
      default_kms_key_name = encryption.value
    }
  }

  depends_on = [google_project_service.api]
}

# The CDN serves output images and previews straight from their buckets (design: public for CDN).
resource "google_storage_bucket_iam_member" "cdn_public_read" {
  for_each = { for key, bucket in local.buckets : key => bucket.name if bucket.public && var.public_cdn_buckets }

  bucket = google_storage_bucket.bucket[each.key].name
  role   = "roles/storage.objectViewer"
  member = "allUsers"
}

# The functions own their artifacts: object admin on each Mangaflow bucket, not on the project.
resource "google_storage_bucket_iam_member" "functions_objects" {
  for_each = local.buckets

  bucket = google_storage_bucket.bucket[each.key].name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.account["functions"].member
}

# Function bundles, one object per content hash; old bundles go after 30 days.
resource "google_storage_bucket" "function_source" {
  name                        = "${var.project_id}-manga-function-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

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

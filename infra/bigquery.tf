# The quality analytics dataset and its five tables; the schemas are the JSON files in
# schemas/bigquery, the same ones the local DuckDB tables are made from.

locals {
  analytics_dataset = "manga_quality_analytics"

  # Table => the column it is partitioned by (by day).
  bigquery_tables = {
    phase_quality_scores     = "recorded_at"
    retry_patterns           = "recorded_at"
    quality_trends           = "day"
    user_feedback_analysis   = "recorded_at"
    chat_interaction_metrics = "recorded_at"
  }
}

resource "google_bigquery_dataset" "analytics" {
  dataset_id  = local.analytics_dataset
  location    = var.region
  description = "Mangaflow quality gate scores, retries, feedback, chat metrics and daily trends."

  default_encryption_configuration {
    kms_key_name = google_kms_crypto_key.data.id
  }

  depends_on = [google_project_service.api, google_kms_crypto_key_iam_member.service_agent]
}

resource "google_bigquery_table" "analytics" {
  for_each = local.bigquery_tables

  dataset_id          = google_bigquery_dataset.analytics.dataset_id
  table_id            = each.key
  schema              = file("${path.module}/../schemas/bigquery/${each.key}.json")
  clustering          = ["phase"]
  deletion_protection = var.deletion_protection

  time_partitioning {
    type  = "DAY"
    field = each.value
  }

  encryption_configuration {
    kms_key_name = google_kms_crypto_key.data.id
  }
}

resource "google_bigquery_dataset_iam_member" "runtime_edit" {
  for_each = toset(local.runtime_accounts)

  dataset_id = google_bigquery_dataset.analytics.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.account[each.key].member
}

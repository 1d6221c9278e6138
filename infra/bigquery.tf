# The quality analytics dataset and its tables; the schemas are the JSON files in schemas/bigquery,
# the same ones the local DuckDB tables are made from.

locals {
  analytics_dataset = "manga_quality_analytics"

  # Table => the column it is partitioned by (by day) and the columns it is clustered by.
  bigquery_tables = {
    phase_quality_scores     = { partition = "recorded_at", clustering = ["phase"] }
    retry_patterns           = { partition = "recorded_at", clustering = ["phase"] }
    quality_trends           = { partition = "day", clustering = ["phase"] }
    user_feedback_analysis   = { partition = "recorded_at", clustering = ["phase"] }
    chat_interaction_metrics = { partition = "recorded_at", clustering = ["phase"] }
    # Written by phase_transition_handler (issue 17) and quality_report (issue 15).
    phase_timings   = { partition = "recorded_at", clustering = ["phase"] }
    run_summaries   = { partition = "recorded_at", clustering = ["status"] }
    quality_reports = { partition = "period_start", clustering = ["period"] }
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
  clustering          = each.value.clustering
  deletion_protection = var.deletion_protection

  time_partitioning {
    type  = "DAY"
    field = each.value.partition
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

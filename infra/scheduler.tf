# Scheduled maintenance: hourly session cleanup, daily analytics aggregation, the daily quality
# report and the weekly trends. Each job calls its function with an OIDC token of the scheduler
# account. Times are UTC (the analytics days are UTC days); aggregation runs before the reports.

locals {
  schedules = {
    cleanup-sessions = {
      function    = "cleanup_sessions"
      schedule    = "5 * * * *"
      description = "Close chat and approval sessions idle for an hour."
      body        = { max_idle_s = 3600 }
    }
    aggregate-analytics = {
      function    = "aggregate_analytics"
      schedule    = "30 0 * * *"
      description = "Aggregate yesterday's quality scores and retries into quality_trends."
      body        = {}
    }
    daily-quality-report = {
      function    = "quality_report"
      schedule    = "0 1 * * *"
      description = "Yesterday's quality report per phase."
      body        = { period = "daily" }
    }
    weekly-quality-trends = {
      function    = "quality_report"
      schedule    = "0 2 * * 1"
      description = "Trends of the ISO week that ended yesterday, against the week before."
      body        = { period = "weekly" }
    }
  }
}

resource "google_cloud_scheduler_job" "job" {
  for_each = local.schedules

  name             = "manga-${each.key}"
  region           = var.region
  description      = each.value.description
  schedule         = each.value.schedule
  time_zone        = var.scheduler_time_zone
  attempt_deadline = "320s"

  retry_config {
    retry_count          = 3
    min_backoff_duration = "30s"
    max_backoff_duration = "300s"
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.fn[each.value.function].url
    body        = base64encode(jsonencode(each.value.body))
    headers = {
      "Content-Type" = "application/json"
    }

    oidc_token {
      service_account_email = google_service_account.account["scheduler"].email
      audience              = google_cloudfunctions2_function.fn[each.value.function].url
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.invoker]
}

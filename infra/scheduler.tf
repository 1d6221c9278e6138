# Scheduled maintenance: the jobs of infra/schedules.yaml, the one definition the local Cloud
# Scheduler reads too (`mangaflow schedules apply`), so the two cannot drift. Each job POSTs its
# body to its function with an OIDC token of the scheduler account, in its own time zone, with its
# own retry config. tests/infra checks that these jobs are exactly the file's.

locals {
  schedules = { for job in yamldecode(file("${path.module}/schedules.yaml")).jobs : job.name => job }
}

resource "google_cloud_scheduler_job" "job" {
  for_each = local.schedules

  name             = "manga-${each.key}"
  region           = var.region
  description      = each.value.description
  schedule         = each.value.schedule
  time_zone        = each.value.time_zone
  attempt_deadline = "${each.value.retry.attempt_deadline_s}s"

  retry_config {
    retry_count          = each.value.retry.retry_count
    min_backoff_duration = "${each.value.retry.min_backoff_s}s"
    max_backoff_duration = "${each.value.retry.max_backoff_s}s"
    max_doublings        = each.value.retry.max_doublings
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

# Cloud Monitoring: the HITL metrics of the design, the channels alerts go to, the alert policies
# and the three dashboards (infra/dashboards/*.json).
#
# The functions write the metrics with OpenTelemetry and the Cloud Monitoring exporter
# (opentelemetry-exporter-gcp-monitoring), whose default prefix is workload.googleapis.com: an
# instrument named "hitl/session_duration" becomes workload.googleapis.com/hitl/session_duration.
# The descriptors are declared here so alerts and dashboards can be made before the first point is
# written; the exporter's kinds, value types, units and the one label `phase` must match them
# (docs/deploy.md, "Metrics").

locals {
  metric_prefix = "workload.googleapis.com"

  hitl_metrics = {
    "hitl/session_duration" = {
      display_name = "HITL session age"
      description  = "Seconds the oldest still-open approval session of a phase has been waiting (0 when none is open); an observable gauge reported every minute."
      metric_kind  = "GAUGE"
      value_type   = "DOUBLE"
      unit         = "s"
    }
    "hitl/feedback_timeout_rate" = {
      display_name = "HITL feedback timeout rate"
      description  = "Share (0-1) of the approval gates of a phase decided in the last hour that ended by timeout rather than a person's answer."
      metric_kind  = "GAUGE"
      value_type   = "DOUBLE"
      unit         = "1"
    }
    "hitl/user_engagement_score" = {
      display_name = "HITL user engagement score"
      description  = "Share (0-1) of the approval gates of a phase decided in the last hour that a person answered (approve, modify, skip, chat) rather than left to time out."
      metric_kind  = "GAUGE"
      value_type   = "DOUBLE"
      unit         = "1"
    }
    "hitl/phase_completion_time" = {
      display_name = "Phase completion time"
      description  = "Seconds from a phase's start to its approved output, gate wait excluded; a histogram recorded when the phase completes."
      metric_kind  = "CUMULATIVE"
      value_type   = "DISTRIBUTION"
      unit         = "s"
    }
    "hitl/retry_rate_per_phase" = {
      display_name = "Retry rate per phase"
      description  = "Share (0-1) of a phase's attempts in the last hour that were quality-gate retries."
      metric_kind  = "GAUGE"
      value_type   = "DOUBLE"
      unit         = "1"
    }
  }

  metric_type = { for name, metric in local.hitl_metrics : name => "${local.metric_prefix}/${name}" }

  dashboards = {
    hitl_performance = "hitl_performance.json"
    user_engagement  = "user_engagement.json"
    phase_quality    = "phase_quality.json"
  }

  # Channels that tell people: every e-mail address, and Slack when configured.
  people_channels = concat(
    [for channel in google_monitoring_notification_channel.email : channel.name],
    [for channel in google_monitoring_notification_channel.slack : channel.name],
  )
}

resource "google_monitoring_metric_descriptor" "hitl" {
  for_each = local.hitl_metrics

  type         = local.metric_type[each.key]
  display_name = each.value.display_name
  description  = each.value.description
  metric_kind  = each.value.metric_kind
  value_type   = each.value.value_type
  unit         = each.value.unit

  labels {
    key         = "phase"
    value_type  = "STRING"
    description = "Phase number, 1 to 7."
  }

  depends_on = [google_project_service.api]
}

resource "google_monitoring_notification_channel" "email" {
  for_each = toset(var.alert_emails)

  display_name = "Mangaflow alerts: ${each.value}"
  type         = "email"
  labels = {
    email_address = each.value
  }
}

# The Slack token comes from Secret Manager (created by the operator), never from a tfvars file.
data "google_secret_manager_secret_version" "slack_token" {
  count = var.slack_channel_name == "" ? 0 : 1

  secret = local.slack_token_secret
}

resource "google_monitoring_notification_channel" "slack" {
  count = var.slack_channel_name == "" ? 0 : 1

  display_name = "Mangaflow alerts: Slack ${var.slack_channel_name}"
  type         = "slack"
  labels = {
    channel_name = var.slack_channel_name
  }

  sensitive_labels {
    auth_token = data.google_secret_manager_secret_version.slack_token[0].secret_data
  }
}

# A long session triggers cleanup: the alert publishes its incident on session-management-topic,
# which session-cleanup-service pushes to session_cleanup_service.
resource "google_monitoring_notification_channel" "session_cleanup" {
  display_name = "Mangaflow: trigger session cleanup"
  type         = "pubsub"
  labels = {
    topic = google_pubsub_topic.topic["session-management-topic"].id
  }

  depends_on = [google_pubsub_topic_iam_member.monitoring_publisher]
}

resource "google_monitoring_alert_policy" "hitl_timeout_rate" {
  display_name = "HITL feedback timeout rate above ${var.hitl_timeout_rate_threshold}"
  combiner     = "OR"
  severity     = "WARNING"

  conditions {
    display_name = "feedback_timeout_rate > ${var.hitl_timeout_rate_threshold} in any phase"

    condition_threshold {
      filter          = "metric.type=\"${google_monitoring_metric_descriptor.hitl["hitl/feedback_timeout_rate"].type}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.hitl_timeout_rate_threshold
      duration        = "0s"

      aggregations {
        alignment_period     = "${var.hitl_alert_window_seconds}s"
        per_series_aligner   = "ALIGN_MEAN"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["metric.label.phase"]
      }

      trigger {
        count = 1
      }
    }
  }

  notification_channels = local.people_channels

  alert_strategy {
    auto_close = "3600s"
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "Mangaflow: approval gates are timing out"
    content   = "More than ${var.hitl_timeout_rate_threshold * 100}% of the approval gates of a phase ended without an answer in the last hour. Check that review links reach people (hitl-feedback-processor, its dead letters in hitl-feedback-dlq-inspect) and the HITL performance dashboard."
  }
}

resource "google_monitoring_alert_policy" "hitl_session_too_long" {
  display_name = "HITL session open longer than ${var.hitl_session_max_seconds} s"
  combiner     = "OR"
  severity     = "WARNING"

  conditions {
    display_name = "session_duration > ${var.hitl_session_max_seconds} s"

    condition_threshold {
      filter          = "metric.type=\"${google_monitoring_metric_descriptor.hitl["hitl/session_duration"].type}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.hitl_session_max_seconds
      duration        = "0s"

      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["metric.label.phase"]
      }

      trigger {
        count = 1
      }
    }
  }

  # The cleanup trigger first; people hear of it too.
  notification_channels = concat([google_monitoring_notification_channel.session_cleanup.name], local.people_channels)

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "Mangaflow: a HITL session outlived ${var.hitl_session_max_seconds} s"
    content   = "An approval session has been open longer than ${var.hitl_session_max_seconds} s. The incident was published on session-management-topic; session_cleanup_service closes sessions idle past their limit."
  }
}

resource "google_monitoring_alert_policy" "dead_letters" {
  display_name = "Mangaflow events in the dead-letter topic"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "undelivered messages in ${local.dead_letter.topic}-inspect"

    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=\"${google_pubsub_subscription.subscription["hitl-feedback-dlq-inspect"].name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }

      trigger {
        count = 1
      }
    }
  }

  notification_channels = local.people_channels

  documentation {
    mime_type = "text/markdown"
    subject   = "Mangaflow: an event failed ${local.dead_letter.max_delivery_attempts} deliveries"
    content   = "A Pub/Sub event could not be processed after ${local.dead_letter.max_delivery_attempts} attempts and waits in hitl-feedback-dlq-inspect (kept 7 days). Read it with `gcloud pubsub subscriptions pull hitl-feedback-dlq-inspect --limit 10`."
  }
}

resource "google_monitoring_dashboard" "hitl" {
  for_each = local.dashboards

  dashboard_json = file("${path.module}/dashboards/${each.value}")

  depends_on = [google_monitoring_metric_descriptor.hitl]
}

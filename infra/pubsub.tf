# Cloud Pub/Sub: the topics, subscriptions and dead-letter topic of infra/pubsub.yaml, the one
# definition the local stack reads too. Subscriptions with a push_function push to that function
# with an OIDC token of manga-pubsub-push; a message that fails dead_letter.max_delivery_attempts
# times goes to the dead-letter topic, where a pull subscription keeps it 7 days for people.

locals {
  pubsub      = yamldecode(file("${path.module}/pubsub.yaml"))
  dead_letter = local.pubsub.dead_letter

  pubsub_topics = { for topic in local.pubsub.topics : topic.name => topic }

  # Normalised, one entry per subscription (yamldecode leaves absent fields absent).
  pubsub_subscriptions = merge([
    for topic in local.pubsub.topics : {
      for sub in topic.subscriptions : sub.name => {
        topic          = topic.name
        ack_deadline_s = sub.ack_deadline_s
        dead_letter    = sub.dead_letter
        push_function  = try(sub.push_function, "")
      }
    }
  ]...)

  # Topics the functions publish events on (all but the dead-letter topic).
  event_topics = [for name in keys(local.pubsub_topics) : name if name != local.dead_letter.topic]

  # Review links go out as gate_opened events on this topic (issue 10).
  review_link_topic = "hitl-feedback-topic"

  retention = "${local.dead_letter.message_retention_s}s"
}

resource "google_pubsub_topic" "topic" {
  for_each = local.pubsub_topics

  name         = each.key
  kms_key_name = google_kms_crypto_key.data.id

  # The dead-letter topic itself keeps its messages 7 days, even before anyone subscribes.
  message_retention_duration = each.key == local.dead_letter.topic ? local.retention : null

  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }

  depends_on = [google_project_service.api, google_kms_crypto_key_iam_member.service_agent]
}

resource "google_pubsub_subscription" "subscription" {
  for_each = local.pubsub_subscriptions

  name                       = each.key
  topic                      = google_pubsub_topic.topic[each.value.topic].id
  ack_deadline_seconds       = each.value.ack_deadline_s
  message_retention_duration = local.retention

  # Never delete a subscription for being idle (the default is after 31 days).
  expiration_policy {
    ttl = ""
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dynamic "dead_letter_policy" {
    for_each = each.value.dead_letter ? [1] : []
    content {
      dead_letter_topic     = google_pubsub_topic.topic[local.dead_letter.topic].id
      max_delivery_attempts = local.dead_letter.max_delivery_attempts
    }
  }

  dynamic "push_config" {
    for_each = each.value.push_function != "" ? [each.value.push_function] : []
    content {
      push_endpoint = google_cloudfunctions2_function.fn[push_config.value].url

      oidc_token {
        service_account_email = google_service_account.account["pubsub_push"].email
        audience              = google_cloudfunctions2_function.fn[push_config.value].url
      }
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.invoker]
}

# Dead-lettering is done by the Pub/Sub service agent: it must publish to the dead-letter topic
# and acknowledge (subscribe to) every subscription whose messages it forwards.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  topic  = google_pubsub_topic.topic[local.dead_letter.topic].name
  role   = "roles/pubsub.publisher"
  member = local.service_agents["pubsub"]
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each = { for name, sub in local.pubsub_subscriptions : name => sub if sub.dead_letter }

  subscription = google_pubsub_subscription.subscription[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.service_agents["pubsub"]
}

# Push with an OIDC token: the service agent mints the token as manga-pubsub-push.
resource "google_service_account_iam_member" "pubsub_push_token" {
  service_account_id = google_service_account.account["pubsub_push"].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.service_agents["pubsub"]
}

# The functions publish events; each runtime account may publish on the event topics only.
resource "google_pubsub_topic_iam_member" "runtime_publisher" {
  for_each = {
    for pair in setproduct(local.event_topics, local.runtime_accounts) :
    "${pair[0]}:${pair[1]}" => { topic = pair[0], account = pair[1] }
  }

  topic  = google_pubsub_topic.topic[each.value.topic].name
  role   = "roles/pubsub.publisher"
  member = google_service_account.account[each.value.account].member
}

# Alert policies that notify a topic (pubsub.yaml `alerts`) publish as Monitoring's agent.
resource "google_pubsub_topic_iam_member" "monitoring_publisher" {
  for_each = toset([for name, topic in local.pubsub_topics : name if length(try(topic.alerts, [])) > 0])

  topic  = google_pubsub_topic.topic[each.key].name
  role   = "roles/pubsub.publisher"
  member = local.service_agents["monitoring"]
}

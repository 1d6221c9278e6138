# Service accounts and their roles, least privilege: each identity gets only what its job needs,
# on the narrowest resource that works (bucket, secret, dataset, topic, function) where it can.
#
# The functions run as four accounts so that the two Workflows permissions reach only the
# functions that need them: `starter` (start_generation) alone may create executions, and
# `gate_answerer` (review_gate, chat_message) alone may send callbacks. Nobody else, people
# included, holds roles/workflows.invoker: people start runs and answer gates through those
# functions, which check who they are.

locals {
  # What every function runtime needs, whichever account it runs as.
  runtime_roles = [
    "roles/cloudsql.client",       # connect through the Cloud SQL connector
    "roles/cloudsql.instanceUser", # sign in with IAM database authentication
    "roles/datastore.user",        # Firestore chat collections
    "roles/bigquery.jobUser",      # run report queries (data access is per dataset)
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter", # the HITL metrics (OpenTelemetry exporter)
    "roles/cloudtrace.agent",
  ]

  service_accounts = {
    functions = {
      account_id   = "manga-service-account"
      display_name = "Mangaflow functions (runtime: gates, status, maintenance, subscribers)"
      roles        = local.runtime_roles
    }
    phases = {
      account_id   = "manga-phase-runner"
      display_name = "Mangaflow phase functions (runtime, Gemini on Vertex AI)"
      roles        = concat(local.runtime_roles, ["roles/aiplatform.user"]) # Gemini text and image models
    }
    starter = {
      account_id   = "manga-run-starter"
      display_name = "Mangaflow start_generation (runtime, creates workflow executions)"
      roles        = local.runtime_roles
    }
    gate_answerer = {
      account_id   = "manga-gate-answerer"
      display_name = "Mangaflow review_gate and chat_message (runtime, sends gate callbacks)"
      roles        = local.runtime_roles
    }
    build = {
      account_id   = "manga-function-build"
      display_name = "Mangaflow function builds"
      roles = [
        "roles/logging.logWriter",
        "roles/artifactregistry.writer",
      ]
    }
    workflow = {
      account_id   = "manga-workflow"
      display_name = "Mangaflow pipeline workflow"
      roles = [
        "roles/logging.logWriter",
      ]
    }
    scheduler = {
      account_id   = "manga-scheduler"
      display_name = "Mangaflow scheduled jobs (OIDC caller)"
      roles        = []
    }
    pubsub_push = {
      account_id   = "manga-pubsub-push"
      display_name = "Mangaflow Pub/Sub push subscriptions (OIDC caller)"
      roles        = []
    }
    cicd = {
      account_id   = "manga-cicd-sa"
      display_name = "Mangaflow Cloud Build (test, package, terraform)"
      roles        = var.cicd_roles
    }
  }

  # The accounts functions run as; each is also an IAM database user.
  runtime_accounts = ["functions", "phases", "starter", "gate_answerer"]

  project_roles = merge([
    for key, account in local.service_accounts : {
      for role in account.roles : "${key}:${role}" => { account = key, role = role }
    }
  ]...)

  # One permission each. Workflows roles can be granted only on the project (its IAM reference
  # names Project as the lowest level, and Workflows is not documented among the services whose
  # resource names IAM Conditions can match, so a resource.name condition could deny every call).
  # The narrowing is therefore: a custom role holding exactly one permission, bound to exactly one
  # function's account, in a project that holds only this deployment's workflow.
  workflow_roles = {
    starter = {
      role_id     = "mangaflowRunStarter"
      title       = "Mangaflow: start pipeline runs"
      permissions = ["workflows.executions.create"]
    }
    gate_answerer = {
      role_id     = "mangaflowGateAnswerer"
      title       = "Mangaflow: answer approval gates"
      permissions = ["workflows.callbacks.send"]
    }
  }
}

resource "google_service_account" "account" {
  for_each = local.service_accounts

  account_id   = each.value.account_id
  display_name = each.value.display_name

  depends_on = [google_project_service.api]
}

resource "google_project_iam_member" "role" {
  for_each = local.project_roles

  project = var.project_id
  role    = each.value.role
  member  = google_service_account.account[each.value.account].member
}

resource "google_project_iam_custom_role" "workflow" {
  for_each = local.workflow_roles

  role_id     = each.value.role_id
  title       = each.value.title
  description = "Granted only to the ${each.key} account (infra/iam.tf)."
  permissions = each.value.permissions
}

resource "google_project_iam_member" "workflow" {
  for_each = local.workflow_roles

  project = var.project_id
  role    = google_project_iam_custom_role.workflow[each.key].name
  member  = google_service_account.account[each.key].member
}

# The build account reads only the bundle bucket.
resource "google_storage_bucket_iam_member" "build_reads_source" {
  bucket = google_storage_bucket.function_source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.account["build"].member
}

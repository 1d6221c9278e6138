# Service accounts and their roles, least privilege: each identity gets only what its job needs,
# on the narrowest resource that works (bucket, secret, dataset, function) where it can.

locals {
  service_accounts = {
    functions = {
      account_id   = "manga-service-account"
      display_name = "Mangaflow functions (runtime)"
      roles = [
        "roles/cloudsql.client",       # connect through the Cloud SQL connector
        "roles/cloudsql.instanceUser", # sign in with IAM database authentication
        "roles/datastore.user",        # Firestore chat collections
        "roles/aiplatform.user",       # Gemini text and image models on Vertex AI
        "roles/bigquery.jobUser",      # run report queries (data access is per dataset)
        "roles/workflows.invoker",     # start a generation, answer approval gate callbacks
        "roles/logging.logWriter",
        "roles/monitoring.metricWriter",
        "roles/cloudtrace.agent",
      ]
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
    cicd = {
      account_id   = "manga-cicd-sa"
      display_name = "Mangaflow Cloud Build (test, package, terraform)"
      roles        = var.cicd_roles
    }
  }

  project_roles = merge([
    for key, account in local.service_accounts : {
      for role in account.roles : "${key}:${role}" => { account = key, role = role }
    }
  ]...)
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

# The build account reads only the bundle bucket.
resource "google_storage_bucket_iam_member" "build_reads_source" {
  bucket = google_storage_bucket.function_source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.account["build"].member
}

# People and front ends in client_invokers may answer approval gates (Workflows callbacks).
resource "google_project_iam_member" "client_callbacks" {
  for_each = toset(var.client_invokers)

  project = var.project_id
  role    = "roles/workflows.invoker"
  member  = each.value
}

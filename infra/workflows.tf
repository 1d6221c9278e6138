# The pipeline workflow. Its definition comes from workflows/; the function URLs reach it as
# environment variables (sys.get_env), never written into the YAML.

locals {
  workflow_name = "manga-pipeline"

  workflow_env = {
    for key, spec in local.function_specs :
    spec.url_env => google_cloudfunctions2_function.fn[key].url if spec.url_env != ""
  }
}

resource "google_workflows_workflow" "pipeline" {
  name                = local.workflow_name
  region              = var.region
  description         = "Mangaflow: seven phases with quality gates and human approval gates."
  service_account     = google_service_account.account["workflow"].id
  source_contents     = file("${path.module}/${var.workflow_source}")
  user_env_vars       = local.workflow_env
  call_log_level      = "LOG_ERRORS_ONLY"
  deletion_protection = var.deletion_protection

  depends_on = [google_project_service.api]
}

# Every Mangaflow function: one bundle (functions/ plus schemas/, zipped once by
# scripts/package_functions.sh and named by its hash), one resource block, one entry per function.

locals {
  function_defaults = {
    memory        = "2Gi"
    cpu           = "1"
    timeout       = 300
    concurrency   = 1
    min_instances = 0
    max_instances = 10
    callers       = []
    account       = "functions"
    cdn_signer    = false
    ingress       = "ALLOW_INTERNAL_ONLY"
  }

  # Key = the Python entry point re-exported by functions/main.py. url_env = the workflow variable
  # that carries the function's URL ("" when the workflow does not call it). callers = who may
  # invoke it: "workflow", "scheduler", "pubsub" (push subscriptions) reach it from inside Google
  # Cloud only; "edge" means people reach it through the HTTPS load balancer (edge.tf), where the
  # function itself checks who they are (ID token, or the signed review link). ingress follows the
  # callers: ALLOW_INTERNAL_AND_GCLB exactly for the "edge" functions (only through the load
  # balancer and its Cloud Armor policy), ALLOW_INTERNAL_ONLY for the rest: Workflows, Cloud
  # Scheduler and Pub/Sub push in the same project count as internal. It is spelled out, not
  # derived, so checkov can read it; tests/infra holds the two together. account = the service
  # account it runs as (iam.tf). cdn_signer = it hands out signed CDN image URLs.
  functions = {
    phase1_concept = {
      name          = "phase1-concept"
      url_env       = "PHASE1_URL"
      callers       = ["workflow"]
      account       = "phases"
      min_instances = var.phase_min_instances
      max_instances = var.phase_max_instances
    }
    phase2_characters = {
      name    = "phase2-characters"
      url_env = "PHASE2_URL"
      # Reference images of the main characters: 3 GiB (design 3.1). The seed's 1.5 CPU is not a
      # size Cloud Run offers; 1 CPU serves 3 GiB. 30 s: the 18 s target plus a margin.
      memory        = "3Gi"
      timeout       = 30
      callers       = ["workflow"]
      account       = "phases"
      min_instances = var.phase_min_instances
      max_instances = var.phase_max_instances
    }
    phase3_plot = {
      name          = "phase3-plot"
      url_env       = "PHASE3_URL"
      callers       = ["workflow"]
      account       = "phases"
      min_instances = var.phase_min_instances
      max_instances = var.phase_max_instances
    }
    phase4_name = {
      name          = "phase4-name"
      url_env       = "PHASE4_URL"
      callers       = ["workflow"]
      account       = "phases"
      min_instances = var.phase_min_instances
      max_instances = var.phase_max_instances
    }
    phase5_images = {
      name    = "phase5-images"
      url_env = "PHASE5_URL"
      # One call per panel, five panels at a time: 2 CPU, 4 GiB, 60 s (the 40 s target plus a
      # margin), five requests per instance (design 3.1).
      memory        = "4Gi"
      cpu           = "2"
      timeout       = 60
      concurrency   = 5
      callers       = ["workflow"]
      account       = "phases"
      min_instances = var.phase_min_instances
      max_instances = var.phase_max_instances
    }
    phase6_lettering = {
      name          = "phase6-lettering"
      url_env       = "PHASE6_URL"
      callers       = ["workflow"]
      account       = "phases"
      min_instances = var.phase_min_instances
      max_instances = var.phase_max_instances
    }
    phase7_finalize = {
      name          = "phase7-finalize"
      url_env       = "PHASE7_URL"
      callers       = ["workflow"]
      account       = "phases"
      min_instances = var.phase_min_instances
      max_instances = var.phase_max_instances
    }
    start_generation = {
      name    = "start-generation"
      url_env = ""
      memory  = "512Mi"
      timeout = 60
      callers = ["edge"]
      ingress = "ALLOW_INTERNAL_AND_GCLB"
      account = "starter"
    }
    get_status = {
      name       = "get-status"
      url_env    = ""
      memory     = "512Mi"
      timeout    = 60
      callers    = ["edge"]
      ingress    = "ALLOW_INTERNAL_AND_GCLB"
      cdn_signer = true
    }
    get_progress = {
      name    = "get-progress"
      url_env = ""
      # A long poll: up to 20 s for the next progress event, then the stores' own retries.
      memory  = "512Mi"
      timeout = 60
      callers = ["edge"]
      ingress = "ALLOW_INTERNAL_AND_GCLB"
    }
    get_artifact = {
      name       = "get-artifact"
      url_env    = ""
      # With MANGAFLOW_SIGNED_URLS=1 it answers with a V4 signed URL (IAM signBlob on its own account).
      memory     = "512Mi"
      timeout    = 60
      callers    = ["edge"]
      ingress    = "ALLOW_INTERNAL_AND_GCLB"
      cdn_signer = true
    }
    cancel_generation = {
      name    = "cancel-generation"
      url_env = ""
      memory  = "512Mi"
      timeout = 60
      callers = ["edge"]
      ingress = "ALLOW_INTERNAL_AND_GCLB"
    }
    translate = {
      name    = "translate"
      url_env = ""
      # Re-letters and exports a whole book (the text model, phases 6 and 7): the phases' account and size.
      memory  = "2Gi"
      timeout = 300
      callers = ["edge"]
      ingress = "ALLOW_INTERNAL_AND_GCLB"
      account = "phases"
    }
    reopen = {
      name    = "reopen"
      url_env = ""
      # Starts a new execution of the pipeline for a finished request (the owner's): what start_generation does.
      memory  = "512Mi"
      timeout = 60
      callers = ["edge"]
      ingress = "ALLOW_INTERNAL_AND_GCLB"
      account = "starter"
    }
    open_gate = {
      name    = "open-gate"
      url_env = "OPEN_GATE_URL"
      memory  = "512Mi"
      timeout = 60
      callers = ["workflow"]
    }
    record_decision = {
      name    = "record-decision"
      url_env = "RECORD_DECISION_URL"
      memory  = "512Mi"
      timeout = 60
      callers = ["workflow"]
    }
    record_failure = {
      name    = "record-failure"
      url_env = "RECORD_FAILURE_URL"
      memory  = "512Mi"
      timeout = 60
      callers = ["workflow"]
    }
    review_gate = {
      name    = "review-gate"
      url_env = ""
      # The approval link a person opens from a notice: the signed, expiring token in the link
      # (bound to request, phase and gate) is what authorises the decision.
      memory     = "512Mi"
      timeout    = 60
      callers    = ["edge"]
      ingress    = "ALLOW_INTERNAL_AND_GCLB"
      account    = "gate_answerer"
      cdn_signer = true
    }
    preview_versions = {
      name       = "preview-versions"
      url_env    = ""
      memory     = "512Mi"
      timeout    = 60
      callers    = ["edge"]
      ingress    = "ALLOW_INTERNAL_AND_GCLB"
      cdn_signer = true
    }
    chat_message = {
      name    = "chat-message"
      url_env = ""
      # Design: process-chat-message, 512 MB, 60 s.
      memory  = "512Mi"
      timeout = 60
      callers = ["edge"]
      ingress = "ALLOW_INTERNAL_AND_GCLB"
      account = "gate_answerer"
    }
    cleanup_sessions = {
      name          = "cleanup-sessions"
      url_env       = ""
      memory        = "512Mi"
      max_instances = 1
      callers       = ["scheduler"]
    }
    aggregate_analytics = {
      name          = "aggregate-analytics"
      url_env       = ""
      memory        = "512Mi"
      max_instances = 1
      callers       = ["scheduler"]
    }
    quality_report = {
      name    = "quality-report"
      url_env = ""
      # Charts rendered in-process by vl-convert (its own JavaScript engine): 320 MB peak measured
      # locally for a daily report, so 1 GiB leaves room for the cloud clients.
      memory        = "1Gi"
      max_instances = 1
      callers       = ["scheduler"]
    }
    # Pub/Sub push subscribers (infra/pubsub.yaml names which subscription pushes to which).
    # 60 s: the subscriptions' acknowledgement deadline.
    hitl_feedback_processor = {
      name    = "hitl-feedback-processor"
      url_env = ""
      memory  = "512Mi"
      timeout = 60
      callers = ["pubsub"]
    }
    phase_transition_handler = {
      name    = "phase-transition-handler"
      url_env = ""
      memory  = "512Mi"
      timeout = 60
      callers = ["pubsub"]
    }
    session_cleanup_service = {
      name          = "session-cleanup-service"
      url_env       = ""
      memory        = "512Mi"
      timeout       = 60
      max_instances = 1
      callers       = ["pubsub"]
    }
  }

  function_specs = { for key, spec in local.functions : key => merge(local.function_defaults, spec) }

  public_url = "https://${var.domain}"

  # Settings every function reads from its environment (mangaflow.config; docs/deploy.md lists
  # them). The workflow's name is spelled out, not taken from the resource: the workflow needs
  # the functions' URLs first.
  function_env = merge(
    {
      ENVIRONMENT               = var.environment
      LOG_LEVEL                 = var.log_level
      GOOGLE_CLOUD_PROJECT      = var.project_id
      MANGAFLOW_REGION          = var.region
      MANGAFLOW_PROVIDER        = var.provider_kind
      GOOGLE_GENAI_USE_VERTEXAI = "true"
      GOOGLE_CLOUD_LOCATION     = var.vertex_location
      MANGAFLOW_ANALYTICS       = "bigquery"
      BIGQUERY_DATASET          = local.analytics_dataset
      BIGQUERY_LOCATION         = var.region
      CLOUD_SQL_INSTANCE        = google_sql_database_instance.manga_db.connection_name
      DB_NAME                   = google_sql_database.manga.name
      MANGAFLOW_WORKFLOW        = "projects/${var.project_id}/locations/${var.region}/workflows/${local.workflow_name}"
      MANGAFLOW_PUBLIC_URL      = local.public_url
      # Callers prove who they are with a Google ID token for this audience (mangaflow.auth).
      MANGAFLOW_AUTH          = "google"
      MANGAFLOW_AUTH_AUDIENCE = var.auth_audience
      # The HITL metrics go to Cloud Monitoring under this prefix (monitoring.tf).
      MANGAFLOW_METRICS_EXPORTER = "cloud_monitoring"
      MANGAFLOW_METRICS_PREFIX   = local.metric_prefix
      # Where review links go when a gate opens (issue 10): the topic hitl-feedback-processor reads.
      MANGAFLOW_NOTIFY_TOPIC = "projects/${var.project_id}/topics/${local.review_link_topic}"
      # The local gateway's allocator (localcloud/gateway.py: `--allocator lean` and huge pages): two malloc
      # arenas, large buffers as their own mappings (given back when freed), transparent huge pages for them.
      # A 32-page book's peak per worker 380-392 MB instead of 403-457 (bench/RESULTS.md, "Memory").
      GLIBC_TUNABLES = "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=2097152:glibc.malloc.hugetlb=1"
    },
    { for key in keys(local.buckets) : "MANGAFLOW_BUCKET_${upper(key)}" => google_storage_bucket.bucket[key].name },
  )

  # What only some functions read, added to function_env by entry point.
  model_env = {
    MANGAFLOW_TEXT_MODEL         = var.text_model
    MANGAFLOW_IMAGE_MODEL        = var.image_model
    MANGAFLOW_DEFAULT_BUDGET_USD = tostring(var.default_budget_usd)
  }
  cdn_env = merge(
    {
      MANGAFLOW_CDN_KEY_NAME  = local.cdn_key_name
      MANGAFLOW_CDN_URL_TTL_S = tostring(var.signed_url_ttl_seconds)
    },
    { for key, prefix in local.cdn_paths : "MANGAFLOW_CDN_URL_${upper(key)}" => "${local.public_url}${prefix}" },
  )
  # (Filters, not conditionals: a conditional cannot choose between objects of different shapes.)
  function_extra_env = {
    for key, spec in local.function_specs : key => merge(
      { for name, value in local.model_env : name => value if spec.account == "phases" || key == "start_generation" },
      { for name, value in local.cdn_env : name => value if spec.cdn_signer },
      { DB_USER = google_sql_user.runtime_iam[spec.account].name },
    )
  }

  # Members behind each kind of caller. Keys of the pairs below use the caller kind and an index,
  # never an e-mail: service account e-mails are unknown until the accounts exist.
  caller_members = {
    workflow  = [google_service_account.account["workflow"].member]
    scheduler = [google_service_account.account["scheduler"].member]
    pubsub    = [google_service_account.account["pubsub_push"].member]
    # Behind the load balancer the function authenticates people itself (mangaflow.auth with an
    # ID token, or the signed review link); Cloud Run IAM cannot check an Identity Platform
    # token, so invoking is open and ingress admits only the load balancer.
    edge = ["allUsers"]
  }

  # Every (function, caller) pair that gets roles/run.invoker on the function's service.
  function_invokers = merge([
    for key, spec in local.function_specs : merge([
      for caller in spec.callers : {
        for index, member in local.caller_members[caller] :
        "${key}:${caller}:${index}" => { function = key, member = member }
      }
    ]...)
  ]...)
}

resource "google_storage_bucket_object" "function_source" {
  # Named by content: a new bundle is a new object, which makes every function redeploy.
  name   = "mangaflow-functions-${filesha256(var.function_source_zip)}.zip"
  bucket = google_storage_bucket.function_source.name
  source = var.function_source_zip
}

resource "google_cloudfunctions2_function" "fn" {
  #checkov:skip=CKV_GCP_124:checkov cannot expand this for_each (merge in a for); ingress comes from local.functions, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB for edge functions, never ALLOW_ALL (tests/infra asserts each).
  for_each = local.function_specs

  name     = each.value.name
  location = var.region

  build_config {
    runtime         = "python311"
    entry_point     = each.key
    service_account = google_service_account.account["build"].id

    source {
      storage_source {
        bucket = google_storage_bucket.function_source.name
        object = google_storage_bucket_object.function_source.name
      }
    }
  }

  service_config {
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    timeout_seconds                  = each.value.timeout
    max_instance_request_concurrency = each.value.concurrency
    min_instance_count               = each.value.min_instances
    max_instance_count               = each.value.max_instances
    ingress_settings                 = each.value.ingress
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.account[each.value.account].email
    environment_variables            = merge(local.function_env, local.function_extra_env[each.key])

    # Cloud SQL and Memorystore sit on private addresses; everything else leaves directly.
    direct_vpc_egress = "VPC_EGRESS_PRIVATE_RANGES_ONLY"
    direct_vpc_network_interface {
      network    = google_compute_network.manga_vpc.name
      subnetwork = google_compute_subnetwork.subnet["public"].name
    }

    # Only what the function's code reads (secrets.tf): the emergency database password is
    # mounted nowhere.
    dynamic "secret_environment_variables" {
      for_each = local.function_secret_env[each.key]
      content {
        key        = secret_environment_variables.value
        project_id = var.project_id
        secret     = secret_environment_variables.key
        version    = "latest"
      }
    }

    # Memorystore's server CA, for REDIS_URL's ssl_ca_certs (in-transit encryption, redis.tf).
    secret_volumes {
      mount_path = local.redis_ca_dir
      project_id = var.project_id
      secret     = google_secret_manager_secret.secret["manga-redis-ca"].secret_id
      versions {
        version = "latest"
        path    = local.redis_ca_file
      }
    }
  }

  depends_on = [
    google_project_iam_member.role,
    google_secret_manager_secret_iam_member.runtime_access,
    google_secret_manager_secret_iam_member.review_webhook,
    google_secret_manager_secret_version.secret,
    google_storage_bucket_iam_member.build_reads_source,
  ]
}

# A 2nd gen function is a Cloud Run service: invoking it takes roles/run.invoker on that service.
resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = local.function_invokers

  location = var.region
  name     = google_cloudfunctions2_function.fn[each.value.function].service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value.member
}

# Secret Manager: every secret Terraform can make is generated or derived here and never written in
# a tfvars file. Values do pass through the Terraform state, which lives in a locked-down GCS
# bucket. Vertex AI is reached with the functions' service accounts, so the design's planned
# Gemini and Imagen API keys and Firebase credentials are not needed.
#
# A function gets only the secrets its code reads (function_secret_env). The emergency database
# password (manga-db-password, and manga-database-url which carries it) is mounted in no function:
# the functions sign in to Cloud SQL with IAM database authentication; only the members in
# var.break_glass_members may read those two, for migrations by hand and break-glass access.

resource "random_password" "secret_key" {
  length  = 48
  special = false
}

resource "random_password" "db_password" {
  length  = 32
  special = false
}

# The Cloud CDN signing key: 128 random bits, base64url as Cloud CDN takes it (edge.tf).
resource "random_bytes" "cdn_key" {
  length = 16
}

locals {
  redis_ca_dir  = "/etc/secrets/redis-ca"
  redis_ca_file = "server-ca.pem"

  # Secret ids Terraform creates, with their values (a sensitive value cannot drive for_each, so
  # the ids are listed apart from the values).
  secret_ids = [
    "manga-secret-key",      # signs approval links and local identities (MANGAFLOW_SIGNING_KEY)
    "manga-redis-url",       # rediss:// with the AUTH string and the CA path (REDIS_URL)
    "manga-redis-ca",        # Memorystore's server CA certificates (a file, see redis_ca_dir)
    "manga-cdn-signing-key", # Cloud CDN signed URL key (MANGAFLOW_CDN_SIGNING_KEY)
    "manga-db-password",     # emergency password of manga_app: break-glass only
    "manga-database-url",    # the same password in a URL: break-glass only
  ]

  secret_values = {
    "manga-secret-key"      = random_password.secret_key.result
    "manga-redis-url"       = "rediss://:${google_redis_instance.manga_cache.auth_string}@${google_redis_instance.manga_cache.host}:${google_redis_instance.manga_cache.port}/0?ssl_cert_reqs=required&ssl_ca_certs=${local.redis_ca_dir}/${local.redis_ca_file}"
    "manga-redis-ca"        = join("\n", [for ca in google_redis_instance.manga_cache.server_ca_certs : ca.cert])
    "manga-cdn-signing-key" = replace(replace(random_bytes.cdn_key.base64, "+", "-"), "/", "_")
    "manga-db-password"     = random_password.db_password.result
    # Through the Cloud SQL Auth Proxy on the operator's machine (the instance requires client
    # certificates, which the proxy presents): cloud-sql-proxy --private-ip <connection name>.
    "manga-database-url" = "postgresql://${google_sql_user.app.name}:${random_password.db_password.result}@127.0.0.1:5432/${google_sql_database.manga.name}"
  }

  break_glass_secrets = ["manga-db-password", "manga-database-url"]

  # Secret id => the environment variable a function reads it as, by entry point.
  base_secret_env = {
    "manga-secret-key" = "MANGAFLOW_SIGNING_KEY"
    "manga-redis-url"  = "REDIS_URL"
  }
  function_secret_env = {
    for key, spec in local.function_specs : key => merge(
      local.base_secret_env,
      { for id, env in { "manga-cdn-signing-key" = "MANGAFLOW_CDN_SIGNING_KEY" } : id => env if spec.cdn_signer },
      { for id, env in { (local.review_webhook_secret) = "MANGAFLOW_REVIEW_WEBHOOK_URL" } : id => env if var.review_webhook && key == "hitl_feedback_processor" },
    )
  }

  # Secrets made outside Terraform by the operator (infra/README.md, "Secrets to create").
  review_webhook_secret = "manga-review-webhook-url"
  slack_token_secret    = "manga-slack-auth-token"

  # (account, generated secret) pairs that need secretAccessor: what the account's functions
  # mount, plus the Redis CA file every function reads.
  runtime_secret_access = merge([
    for key, spec in local.function_specs : merge(
      { for id in keys(local.function_secret_env[key]) : "${spec.account}:${id}" => { account = spec.account, secret = id } if contains(local.secret_ids, id) },
      { "${spec.account}:manga-redis-ca" = { account = spec.account, secret = "manga-redis-ca" } },
    )
  ]...)
}

resource "google_secret_manager_secret" "secret" {
  for_each = toset(local.secret_ids)

  secret_id = each.key

  replication {
    auto {}
  }

  depends_on = [google_project_service.api]
}

resource "google_secret_manager_secret_version" "secret" {
  for_each = toset(local.secret_ids)

  secret      = google_secret_manager_secret.secret[each.key].id
  secret_data = local.secret_values[each.key]
}

resource "google_secret_manager_secret_iam_member" "runtime_access" {
  for_each = local.runtime_secret_access

  secret_id = google_secret_manager_secret.secret[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.account[each.value.account].member
}

resource "google_secret_manager_secret_iam_member" "break_glass" {
  for_each = {
    for pair in setproduct(local.break_glass_secrets, var.break_glass_members) :
    "${pair[0]}:${pair[1]}" => { secret = pair[0], member = pair[1] }
  }

  secret_id = google_secret_manager_secret.secret[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value.member
}

# The review-link webhook URL, when var.review_webhook: only its reader may access it.
resource "google_secret_manager_secret_iam_member" "review_webhook" {
  for_each = var.review_webhook ? toset([local.function_specs["hitl_feedback_processor"].account]) : toset([])

  project   = var.project_id
  secret_id = local.review_webhook_secret
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.account[each.key].member
}

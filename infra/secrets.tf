# Secret Manager: every secret value is generated or derived here and never written in a tfvars
# file. Values do pass through the Terraform state, which lives in a locked-down GCS bucket.
# Vertex AI is reached with the functions' service account, so the design's planned Gemini and
# Imagen API keys and Firebase credentials are not needed.

resource "random_password" "secret_key" {
  length  = 48
  special = false
}

locals {
  # Secret id => the environment variable the functions read it as (the secret key signs the
  # approval links). The values sit in a separate
  # map: a sensitive value cannot drive for_each.
  secret_env = {
    "manga-secret-key"   = "MANGAFLOW_SIGNING_KEY"
    "manga-database-url" = "DATABASE_URL"
    "manga-db-password"  = "DB_PASSWORD"
    "manga-redis-url"    = "REDIS_URL"
  }

  secret_values = {
    "manga-secret-key"   = random_password.secret_key.result
    "manga-database-url" = "postgresql://${google_sql_user.app.name}:${random_password.db_password.result}@${google_sql_database_instance.manga_db.private_ip_address}:5432/${google_sql_database.manga.name}?sslmode=require"
    "manga-db-password"  = random_password.db_password.result
    "manga-redis-url"    = "redis://:${google_redis_instance.manga_cache.auth_string}@${google_redis_instance.manga_cache.host}:${google_redis_instance.manga_cache.port}/0"
  }
}

resource "google_secret_manager_secret" "secret" {
  for_each = local.secret_env

  secret_id = each.key

  replication {
    auto {}
  }

  depends_on = [google_project_service.api]
}

resource "google_secret_manager_secret_version" "secret" {
  for_each = local.secret_env

  secret      = google_secret_manager_secret.secret[each.key].id
  secret_data = local.secret_values[each.key]
}

resource "google_secret_manager_secret_iam_member" "functions_access" {
  for_each = local.secret_env

  secret_id = google_secret_manager_secret.secret[each.key].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.account["functions"].member
}

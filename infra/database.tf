# Cloud SQL for PostgreSQL 15 on a private address only, IAM database authentication on,
# daily backups kept 30 days and 7 days of point-in-time recovery (design 4.1).

resource "google_sql_database_instance" "manga_db" {
  #checkov:skip=CKV_GCP_79:The design (INF-DOC-001 4.1) fixes PostgreSQL 15; a major-version upgrade is a planned migration of its own, not a side effect of this change.
  name             = "manga-db-instance"
  database_version = "POSTGRES_15"
  region           = var.region

  settings {
    tier                  = var.db_tier
    edition               = "ENTERPRISE"
    availability_type     = "ZONAL"
    disk_type             = "PD_SSD"
    disk_size             = var.db_disk_size_gb
    disk_autoresize       = true
    disk_autoresize_limit = var.db_disk_limit_gb

    location_preference {
      zone = var.zone
    }

    ip_configuration {
      ipv4_enabled       = false
      private_network    = google_compute_network.manga_vpc.id
      allocated_ip_range = google_compute_global_address.private_services.name
      ssl_mode           = "TRUSTED_CLIENT_CERTIFICATE_REQUIRED" # the Cloud SQL connector and Auth Proxy present client certificates
    }

    # Cloud SQL times are UTC: 18:00 UTC is the design's 03:00 JST backup window.
    backup_configuration {
      enabled                        = true
      start_time                     = "18:00"
      point_in_time_recovery_enabled = true
      transaction_log_retention_days = 7

      backup_retention_settings {
        retained_backups = 30
        retention_unit   = "COUNT"
      }
    }

    # Sunday 04:00 JST is Saturday 19:00 UTC (day 6).
    maintenance_window {
      day          = 6
      hour         = 19
      update_track = "stable"
    }

    # IAM sign-in, then what the audit trail needs (CIS PostgreSQL benchmark; checkov checks them):
    # connections and their ends, lock waits, checkpoints, client host names, durations, DDL
    # statements, errors with their statement, and pgAudit for role and DDL changes. No query text
    # of ordinary reads or writes is logged: it would carry story text.
    database_flags {
      name  = "cloudsql.iam_authentication"
      value = "on"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
    database_flags {
      name  = "pgaudit.log"
      value = "role,ddl"
    }
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "log_duration"
      value = "on"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
    database_flags {
      name  = "log_min_messages"
      value = "warning"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }

    insights_config {
      query_insights_enabled = true
    }
  }

  deletion_protection = var.deletion_protection

  depends_on = [google_service_networking_connection.private_services]
}

resource "google_sql_database" "manga" {
  name     = "manga"
  instance = google_sql_database_instance.manga_db.name
}

# The functions sign in as their service accounts (IAM auth, no password) through the Cloud SQL
# connector, one database user per runtime account (DB_USER of each function). The password user
# is for migrations by hand and break-glass access only (secrets.tf).
resource "google_sql_user" "runtime_iam" {
  for_each = toset(local.runtime_accounts)

  name     = trimsuffix(google_service_account.account[each.key].email, ".gserviceaccount.com")
  instance = google_sql_database_instance.manga_db.name
  type     = "CLOUD_IAM_SERVICE_ACCOUNT"
}

resource "google_sql_user" "app" {
  name     = "manga_app"
  instance = google_sql_database_instance.manga_db.name
  password = random_password.db_password.result
}

# The functions' IAM user was a single resource before each runtime account got its own; moving it
# keeps the existing database user (and its grants) instead of dropping and re-creating it.
moved {
  from = google_sql_user.functions_iam
  to   = google_sql_user.runtime_iam["functions"]
}

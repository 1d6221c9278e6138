output "function_urls" {
  description = "HTTPS URL of every function, by entry point."
  value       = { for key, fn in google_cloudfunctions2_function.fn : key => fn.url }
}

output "workflow_id" {
  description = "The pipeline workflow (for gcloud workflows run / executions)."
  value       = google_workflows_workflow.pipeline.id
}

output "workflow_env" {
  description = "The environment variables handed to the workflow (name => function URL)."
  value       = local.workflow_env
}

output "bucket_names" {
  description = "Bucket name by role (input_data, output_images, ...)."
  value       = { for key, bucket in google_storage_bucket.bucket : key => bucket.name }
}

output "function_source_object" {
  description = "The deployed bundle, named by its SHA-256."
  value       = "gs://${google_storage_bucket.function_source.name}/${google_storage_bucket_object.function_source.name}"
}

output "cloud_sql_connection_name" {
  description = "Instance connection name for the Cloud SQL connector."
  value       = google_sql_database_instance.manga_db.connection_name
}

output "cloud_sql_private_ip" {
  description = "Private address of the database."
  value       = google_sql_database_instance.manga_db.private_ip_address
}

output "redis_host" {
  description = "Private address of Memorystore."
  value       = "${google_redis_instance.manga_cache.host}:${google_redis_instance.manga_cache.port}"
}

output "bigquery_dataset" {
  description = "Quality analytics dataset."
  value       = google_bigquery_dataset.analytics.id
}

output "service_accounts" {
  description = "Service account e-mail by role."
  value       = { for key, account in google_service_account.account : key => account.email }
}

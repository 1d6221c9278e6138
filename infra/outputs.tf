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

output "edge_ip_address" {
  description = "Address of the HTTPS load balancer: point the DNS A record of var.domain at it."
  value       = google_compute_global_address.edge.address
}

output "public_url" {
  description = "Where people reach Mangaflow: https://<domain>/<entry point> (start_generation, get_status, review_gate, preview_versions, chat_message); images under /images and /previews."
  value       = local.public_url
}

output "cdn_key_name" {
  description = "KeyName of the Cloud CDN signed URLs; the key itself is the secret manga-cdn-signing-key."
  value       = local.cdn_key_name
}

output "pubsub_topics" {
  description = "Topic ids by name (infra/pubsub.yaml)."
  value       = { for name, topic in google_pubsub_topic.topic : name => topic.id }
}

output "dashboards" {
  description = "Cloud Monitoring dashboards by name."
  value       = { for name, dashboard in google_monitoring_dashboard.hitl : name => dashboard.id }
}

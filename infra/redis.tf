# Memorystore for Redis 7, Basic tier, 1 GB: sessions, rate limits, progress and the chat cache
# only, now that previews live in Cloud Storage behind the CDN (design 4.2, optimised). AUTH and
# in-transit encryption are on.

resource "google_redis_instance" "manga_cache" {
  name           = "manga-redis"
  tier           = "BASIC"
  memory_size_gb = var.redis_memory_gb
  redis_version  = "REDIS_7_0"
  region         = var.region
  location_id    = var.zone

  authorized_network = google_compute_network.manga_vpc.id
  connect_mode       = "PRIVATE_SERVICE_ACCESS"
  reserved_ip_range  = google_compute_global_address.private_services.name

  auth_enabled = true

  # TLS on every connection (port 6378): clients use rediss:// and check the server against the
  # instance's CA, which secrets.tf keeps as manga-redis-ca and mounts in every function.
  transit_encryption_mode = "SERVER_AUTHENTICATION"

  redis_configs = {
    # Session keys carry TTLs; evict those first if memory ever runs short.
    maxmemory-policy = "volatile-lru"
  }

  depends_on = [google_service_networking_connection.private_services]
}

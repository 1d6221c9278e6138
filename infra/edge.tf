# The edge: one global external HTTPS load balancer at https://<var.domain>.
#   /<entry point>[/...]  the functions people use (callers "edge" in functions.tf), each through a
#                         serverless NEG and a backend service behind the Cloud Armor policy
#   /images/...           manga-output-images through Cloud CDN     } private buckets; only URLs
#   /previews/...         manga-preview-cache through Cloud CDN     } signed with the CDN key load
# The buckets stay private: Cloud CDN reads them with its own fill account, and only for requests
# whose signature checks out against the key below, which Secret Manager gives to the functions
# that sign URLs (cdn_signer in functions.tf). HTTP on port 80 only redirects to HTTPS.

locals {
  edge_functions = { for key, spec in local.function_specs : key => spec if contains(spec.callers, "edge") }

  # Bucket kind => the path the CDN serves it under (stripped before the object lookup).
  cdn_paths = {
    output_images = "/images"
    preview_cache = "/previews"
  }

  # The name signed URLs carry (KeyName=); a rotation adds a key under a new name (infra/README.md).
  cdn_key_name = "manga-cdn-key-1"

  # Cloud Armor preconfigured WAF rules (ModSecurity CRS 3.3), evaluated before the rate limit.
  waf_rules = {
    "sqli-v33-stable"             = 1000
    "xss-v33-stable"              = 1001
    "lfi-v33-stable"              = 1002
    "rfi-v33-stable"              = 1003
    "rce-v33-stable"              = 1004
    "scannerdetection-v33-stable" = 1005
    "protocolattack-v33-stable"   = 1006
    "sessionfixation-v33-stable"  = 1007
  }
}

resource "google_compute_global_address" "edge" {
  name = "manga-edge-ip"

  depends_on = [google_project_service.api]
}

resource "google_compute_managed_ssl_certificate" "edge" {
  name = "manga-edge-cert"

  managed {
    domains = [var.domain]
  }
}

resource "google_compute_ssl_policy" "edge" {
  name            = "manga-edge-tls"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"
}

resource "google_compute_security_policy" "edge" {
  name        = "manga-edge-armor"
  description = "Mangaflow public functions: preconfigured WAF rules, Log4j probes refused, per-address rate-based ban."
  type        = "CLOUD_ARMOR"

  adaptive_protection_config {
    layer_7_ddos_defense_config {
      enable = true
    }
  }

  # Log4j JNDI lookups (CVE-2021-44228) are refused outright, never in preview.
  rule {
    action      = "deny(403)"
    priority    = 900
    description = "CVE-2021-44228 (Log4j) probes"
    match {
      expr {
        expression = "evaluatePreconfiguredExpr('cve-canary')"
      }
    }
  }

  dynamic "rule" {
    for_each = local.waf_rules
    content {
      action      = "deny(403)"
      priority    = rule.value
      preview     = var.waf_preview
      description = "Preconfigured WAF: ${rule.key}"
      match {
        expr {
          expression = "evaluatePreconfiguredWaf('${rule.key}', {'sensitivity': ${var.waf_sensitivity}})"
        }
      }
    }
  }

  # The design's DDoS line: 1000 requests a minute per address, then a ban.
  rule {
    action      = "rate_based_ban"
    priority    = 2000
    description = "Ban an address above ${var.edge_rate_limit_per_minute} requests a minute for ${var.edge_ban_seconds} s"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    rate_limit_options {
      conform_action   = "allow"
      exceed_action    = "deny(429)"
      enforce_on_key   = "IP"
      ban_duration_sec = var.edge_ban_seconds
      rate_limit_threshold {
        count        = var.edge_rate_limit_per_minute
        interval_sec = 60
      }
    }
  }

  rule {
    action      = "allow"
    priority    = 2147483647
    description = "Everything the rules above let through"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }

  depends_on = [google_project_service.api]
}

# One serverless NEG and one backend service per public function (a 2nd gen function is a Cloud
# Run service of the same name).
resource "google_compute_region_network_endpoint_group" "function" {
  for_each = local.edge_functions

  name                  = "manga-neg-${each.value.name}"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = google_cloudfunctions2_function.fn[each.key].service_config[0].service
  }
}

resource "google_compute_backend_service" "function" {
  for_each = local.edge_functions

  name                  = "manga-be-${each.value.name}"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"
  security_policy       = google_compute_security_policy.edge.id

  backend {
    group = google_compute_region_network_endpoint_group.function[each.key].id
  }

  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

resource "google_compute_backend_bucket" "cdn" {
  for_each = local.cdn_paths

  name        = "manga-cdn-${replace(each.key, "_", "-")}"
  description = "Cloud CDN in front of the private bucket ${google_storage_bucket.bucket[each.key].name}; signed URLs only."
  bucket_name = google_storage_bucket.bucket[each.key].name
  enable_cdn  = true

  cdn_policy {
    cache_mode                   = "CACHE_ALL_STATIC"
    default_ttl                  = 3600
    client_ttl                   = 3600
    max_ttl                      = 86400
    negative_caching             = true
    signed_url_cache_max_age_sec = var.signed_url_ttl_seconds
  }
}

resource "google_compute_backend_bucket_signed_url_key" "cdn" {
  for_each = local.cdn_paths

  name           = local.cdn_key_name
  key_value      = google_secret_manager_secret_version.secret["manga-cdn-signing-key"].secret_data
  backend_bucket = google_compute_backend_bucket.cdn[each.key].name
}

# Cloud CDN fetches signed requests from the private buckets as its fill account (the account
# exists once a signing key has been added, hence the dependency).
resource "google_storage_bucket_iam_member" "cdn_fill" {
  for_each = local.cdn_paths

  bucket = google_storage_bucket.bucket[each.key].name
  role   = "roles/storage.objectViewer"
  member = local.service_agents["cdn_fill"]

  depends_on = [google_compute_backend_bucket_signed_url_key.cdn]
}

resource "google_compute_url_map" "edge" {
  name        = "manga-edge"
  description = "Mangaflow: public functions by entry point, images and previews through Cloud CDN."

  # Anything unknown lands on a private bucket and is refused without a valid signature.
  default_service = google_compute_backend_bucket.cdn["output_images"].id

  host_rule {
    hosts        = [var.domain]
    path_matcher = "mangaflow"
  }

  path_matcher {
    name            = "mangaflow"
    default_service = google_compute_backend_bucket.cdn["output_images"].id

    dynamic "path_rule" {
      for_each = local.edge_functions
      content {
        paths   = ["/${path_rule.key}", "/${path_rule.key}/*"]
        service = google_compute_backend_service.function[path_rule.key].id
      }
    }

    # /images/<object name> reads <object name>: the prefix only picks the bucket.
    dynamic "path_rule" {
      for_each = local.cdn_paths
      content {
        paths   = ["${path_rule.value}/*"]
        service = google_compute_backend_bucket.cdn[path_rule.key].id
        route_action {
          url_rewrite {
            path_prefix_rewrite = "/"
          }
        }
      }
    }
  }
}

resource "google_compute_target_https_proxy" "edge" {
  name             = "manga-edge-https"
  url_map          = google_compute_url_map.edge.id
  ssl_certificates = [google_compute_managed_ssl_certificate.edge.id]
  ssl_policy       = google_compute_ssl_policy.edge.id
}

resource "google_compute_global_forwarding_rule" "https" {
  name                  = "manga-edge-https"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_protocol           = "TCP"
  port_range            = "443"
  ip_address            = google_compute_global_address.edge.id
  target                = google_compute_target_https_proxy.edge.id
}

# Port 80 answers only with a redirect to HTTPS.
resource "google_compute_url_map" "http_redirect" {
  name        = "manga-edge-http-redirect"
  description = "Mangaflow: every plain-HTTP request is redirected to HTTPS."

  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }
}

resource "google_compute_target_http_proxy" "http_redirect" {
  name    = "manga-edge-http"
  url_map = google_compute_url_map.http_redirect.id
}

resource "google_compute_global_forwarding_rule" "http" {
  name                  = "manga-edge-http"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_protocol           = "TCP"
  port_range            = "80"
  ip_address            = google_compute_global_address.edge.id
  target                = google_compute_target_http_proxy.http_redirect.id
}

# One VPC (manga-service-vpc, 10.0.0.0/16) with the design's three subnets, Cloud NAT for
# outbound traffic, firewall rules in the design's priority order, and Private Service Access
# so Cloud SQL and Memorystore get private addresses reachable from the functions.

resource "google_compute_network" "manga_vpc" {
  name                    = "manga-service-vpc"
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"
  mtu                     = 1460

  depends_on = [google_project_service.api]
}

locals {
  # The functions' Direct VPC egress uses manga-public, the subnet the design reserves for the
  # serverless side; each instance takes addresses from it, so the data subnet keeps its room.
  subnets = {
    public = {
      name = "manga-public"
      cidr = "10.0.1.0/24"
    }
    private = {
      name = "manga-private"
      cidr = "10.0.2.0/24"
    }
    management = {
      name = "manga-management"
      cidr = "10.0.3.0/24"
    }
  }
}

resource "google_compute_subnetwork" "subnet" {
  for_each = local.subnets

  name          = each.value.name
  ip_cidr_range = each.value.cidr
  region        = var.region
  network       = google_compute_network.manga_vpc.id

  # Google APIs (Vertex AI, Storage, BigQuery) stay reachable without public addresses.
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_10_MIN"
    flow_sampling        = 0.1
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_router" "manga_router" {
  name    = "manga-router"
  region  = var.region
  network = google_compute_network.manga_vpc.id
}

resource "google_compute_router_nat" "manga_nat" {
  name                               = "manga-nat"
  router                             = google_compute_router.manga_router.name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

locals {
  # Priorities as in the design (5.4): deny all last, then HTTPS, internal, health checks.
  firewall_allow_rules = {
    "manga-allow-https" = {
      priority      = 1000
      protocol      = "tcp"
      ports         = ["443"]
      source_ranges = ["0.0.0.0/0"]
      target_tags   = ["https-server"]
    }
    "manga-allow-internal-tcp" = {
      priority      = 1001
      protocol      = "tcp"
      ports         = ["0-65535"]
      source_ranges = ["10.0.0.0/16"]
      target_tags   = []
    }
    "manga-allow-internal-udp" = {
      priority      = 1001
      protocol      = "udp"
      ports         = ["0-65535"]
      source_ranges = ["10.0.0.0/16"]
      target_tags   = []
    }
    "manga-allow-health-check" = {
      priority      = 1002
      protocol      = "tcp"
      ports         = ["8080"]
      source_ranges = ["130.211.0.0/22", "35.191.0.0/16"]
      target_tags   = ["cloud-run-service"]
    }
  }
}

resource "google_compute_firewall" "allow" {
  for_each = local.firewall_allow_rules

  name          = each.key
  network       = google_compute_network.manga_vpc.name
  direction     = "INGRESS"
  priority      = each.value.priority
  source_ranges = each.value.source_ranges
  target_tags   = each.value.target_tags

  allow {
    protocol = each.value.protocol
    ports    = each.value.ports
  }
}

resource "google_compute_firewall" "deny_all_ingress" {
  name          = "manga-deny-all-ingress"
  network       = google_compute_network.manga_vpc.name
  direction     = "INGRESS"
  priority      = 65534
  source_ranges = ["0.0.0.0/0"]

  deny {
    protocol = "all"
  }
}

# Private Service Access: one allocated range peered with Google's service producer network.
resource "google_compute_global_address" "private_services" {
  name          = "manga-private-services"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  address       = split("/", var.psa_range_cidr)[0]
  prefix_length = tonumber(split("/", var.psa_range_cidr)[1])
  network       = google_compute_network.manga_vpc.id
}

resource "google_service_networking_connection" "private_services" {
  network                 = google_compute_network.manga_vpc.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.private_services.name]
}

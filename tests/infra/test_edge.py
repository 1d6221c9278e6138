"""The edge of issue 17 (item 4): the HTTPS load balancer routes every public function and serves
the two image buckets through Cloud CDN with signed URLs only, behind a Cloud Armor policy."""
from __future__ import annotations

import json
import os
from typing import Any

import pytest
from terraform_model import block, dynamic, function_specs, load, resource


@pytest.fixture(scope="module")
def terraform() -> dict[str, Any]:
    return load()


def edge_keys(terraform: dict[str, Any]) -> set[str]:
    return {key for key, spec in function_specs(terraform).items() if "edge" in spec["callers"]}


def test_every_public_function_has_a_neg_a_backend_behind_cloud_armor_and_a_path(terraform):
    neg = resource(terraform, "google_compute_region_network_endpoint_group", "function")
    backend = resource(terraform, "google_compute_backend_service", "function")
    matcher = block(resource(terraform, "google_compute_url_map", "edge"), "path_matcher")
    function_rule = [d["path_rule"] for d in matcher["dynamic"] if "edge_functions" in d["path_rule"]["for_each"]][0]

    assert terraform["locals"]["edge_functions"] == (
        '${{for key, spec in local.function_specs : key => spec if contains(spec.callers, "edge")}}')
    assert neg["for_each"] == backend["for_each"] == "${local.edge_functions}"
    assert neg["network_endpoint_type"] == "SERVERLESS"
    assert block(neg, "cloud_run")["service"] == (
        "${google_cloudfunctions2_function.fn[each.key].service_config[0].service}")
    assert backend["security_policy"] == "${google_compute_security_policy.edge.id}"
    assert backend["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    assert block(backend, "log_config")["enable"] is True
    content = block(function_rule, "content")
    assert content["paths"] == ["/${path_rule.key}", "/${path_rule.key}/*"]
    assert content["service"] == "${google_compute_backend_service.function[path_rule.key].id}"


def test_review_links_point_at_a_path_the_load_balancer_routes(terraform, monkeypatch):
    """The link the code writes (MANGAFLOW_PUBLIC_URL + /review_gate) is one the URL map serves."""
    from mangaflow.service import gates

    assert "MANGAFLOW_PUBLIC_URL = local.public_url" in terraform["locals"]["function_env"]
    assert terraform["locals"]["public_url"] == "https://${var.domain}"
    monkeypatch.setitem(os.environ, "MANGAFLOW_PUBLIC_URL", "https://manga.example.com")
    link = gates.approval_url("r-1", 1, "g-1", "t")
    path = link.removeprefix("https://manga.example.com").split("?")[0]

    assert path.lstrip("/") in edge_keys(terraform)


def test_image_buckets_are_served_by_the_cdn_with_signed_urls(terraform):
    bucket = resource(terraform, "google_compute_backend_bucket", "cdn")
    key = resource(terraform, "google_compute_backend_bucket_signed_url_key", "cdn")
    policy = block(bucket, "cdn_policy")
    matcher = block(resource(terraform, "google_compute_url_map", "edge"), "path_matcher")
    cdn_rule = [d["path_rule"] for d in matcher["dynamic"] if "cdn_paths" in d["path_rule"]["for_each"]][0]
    content = block(cdn_rule, "content")

    assert terraform["locals"]["cdn_paths"] == {"output_images": "/images", "preview_cache": "/previews"}
    assert bucket["for_each"] == key["for_each"] == "${local.cdn_paths}"
    assert bucket["enable_cdn"] is True
    assert bucket["bucket_name"] == "${google_storage_bucket.bucket[each.key].name}"
    assert policy["signed_url_cache_max_age_sec"] == "${var.signed_url_ttl_seconds}"
    assert key["name"] == "${local.cdn_key_name}"
    assert key["key_value"] == '${google_secret_manager_secret_version.secret["manga-cdn-signing-key"].secret_data}'
    assert content["paths"] == ["${path_rule.value}/*"]
    assert block(block(content, "route_action"), "url_rewrite")["path_prefix_rewrite"] == "/"


def test_the_cdn_key_is_a_secret_only_url_signers_read(terraform):
    locals_ = terraform["locals"]
    specs = function_specs(terraform)
    mounts = locals_["function_secret_env"]

    assert "manga-cdn-signing-key" in locals_["secret_ids"]
    assert locals_["secret_values"]["manga-cdn-signing-key"] == (
        '${replace(replace(random_bytes.cdn_key.base64, "+", "-"), "/", "_")}')
    assert resource(terraform, "random_bytes", "cdn_key")["length"] == 16  # 128-bit key
    assert '\\"manga-cdn-signing-key\\" = \\"MANGAFLOW_CDN_SIGNING_KEY\\"' in json.dumps(mounts)
    assert "if spec.cdn_signer" in mounts
    assert "MANGAFLOW_CDN_KEY_NAME = local.cdn_key_name" in locals_["cdn_env"]
    assert "MANGAFLOW_CDN_URL_${upper(key)}" in locals_["cdn_env"]
    for key in ("get_status", "review_gate", "preview_versions"):
        assert specs[key]["cdn_signer"] is True, key
        assert "edge" in specs[key]["callers"], key


def test_cloud_armor_has_waf_rules_a_log4j_rule_and_a_rate_based_ban(terraform):
    policy = resource(terraform, "google_compute_security_policy", "edge")
    rules = policy["rule"]
    waf = dynamic(policy, "rule")
    by_action = {rule["action"]: rule for rule in rules}

    ban = by_action["rate_based_ban"]
    options = block(ban, "rate_limit_options")
    assert block(options, "rate_limit_threshold") == {"count": "${var.edge_rate_limit_per_minute}",
                                                       "interval_sec": 60}
    assert options["enforce_on_key"] == "IP" and options["exceed_action"] == "deny(429)"
    assert options["ban_duration_sec"] == "${var.edge_ban_seconds}"
    assert terraform["variable"]["edge_rate_limit_per_minute"]["default"] == 1000  # design 5.4
    assert block(block(by_action["deny(403)"], "match"), "expr")["expression"] == (
        "evaluatePreconfiguredExpr('cve-canary')")
    assert by_action["allow"]["priority"] == 2147483647
    assert waf["for_each"] == "${local.waf_rules}"
    assert "evaluatePreconfiguredWaf('${rule.key}'" in block(block(block(waf, "content"), "match"), "expr")[
        "expression"]
    assert {"sqli-v33-stable", "xss-v33-stable"} <= set(terraform["locals"]["waf_rules"])
    priorities = list(terraform["locals"]["waf_rules"].values()) + [r["priority"] for r in rules]
    assert len(priorities) == len(set(priorities))


def test_https_only_with_a_modern_tls_policy(terraform):
    proxy = resource(terraform, "google_compute_target_https_proxy", "edge")
    tls = resource(terraform, "google_compute_ssl_policy", "edge")
    https = resource(terraform, "google_compute_global_forwarding_rule", "https")
    http = resource(terraform, "google_compute_global_forwarding_rule", "http")
    redirect = block(resource(terraform, "google_compute_url_map", "http_redirect"), "default_url_redirect")

    assert tls["min_tls_version"] == "TLS_1_2"
    assert proxy["ssl_policy"] == "${google_compute_ssl_policy.edge.id}"
    assert block(resource(terraform, "google_compute_managed_ssl_certificate", "edge"), "managed")[
        "domains"] == ["${var.domain}"]
    assert (https["port_range"], http["port_range"]) == ("443", "80")
    assert redirect["https_redirect"] is True
    assert http["target"] == "${google_compute_target_http_proxy.http_redirect.id}"


def test_browsers_may_load_cdn_images_from_the_review_pages_origin(terraform):
    bucket = resource(terraform, "google_storage_bucket", "bucket")
    cors = block(dynamic(bucket, "cors"), "content")

    assert cors["origin"] == '${concat(["https://${var.domain}"], var.cors_origins)}'
    assert cors["method"] == ["GET", "HEAD"]

"""The cloud shape of issue 7 (items 14-17), read from infra/: no public bucket, no project-wide
workflows.invoker for anyone, the emergency database password mounted nowhere, Redis over TLS,
Cloud SQL audit flags, ingress only where people must reach a function."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from terraform_model import INFRA, all_tf_text, block, dynamic, function_specs, load, resource

EDGE_FUNCTIONS = {"start_generation", "get_status", "review_gate", "preview_versions", "chat_message", "get_progress",
                  "get_artifact", "cancel_generation", "translate", "reopen"}
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")


@pytest.fixture(scope="module")
def terraform() -> dict[str, Any]:
    return load()


def code(terraform: dict[str, Any]) -> str:
    """Everything Terraform evaluates (comments left out), as one text to search."""
    return json.dumps({kind: terraform[kind] for kind in ("resource", "data", "locals", "output")})


# -- 14. No public bucket ------------------------------------------------------------------------


def test_every_bucket_enforces_public_access_prevention_and_uniform_access(terraform):
    buckets = terraform["resource"]["google_storage_bucket"]

    assert set(buckets) == {"bucket", "function_source", "access_logs"}
    for name, body in buckets.items():
        assert body["public_access_prevention"] == "enforced", name
        assert body["uniform_bucket_level_access"] is True, name
    assert all("public" not in bucket for bucket in terraform["locals"]["buckets"].values())


def test_no_bucket_grants_anything_to_the_public(terraform):
    for kind in ("google_storage_bucket_iam_member", "google_storage_bucket_iam_binding",
                 "google_storage_bucket_iam_policy"):
        for name, body in terraform["resource"].get(kind, {}).items():
            text = json.dumps(body)
            assert not any(member in text for member in PUBLIC_MEMBERS), (kind, name)
    for kind in ("google_storage_bucket_acl", "google_storage_default_object_acl",
                 "google_storage_object_acl", "google_storage_bucket_access_control",
                 "google_storage_default_object_access_control"):
        assert kind not in terraform["resource"], kind


def test_cdn_buckets_are_read_only_by_cdn_fill_and_the_functions(terraform):
    cdn = {key for key, bucket in terraform["locals"]["buckets"].items() if bucket["cdn"]}
    fill = resource(terraform, "google_storage_bucket_iam_member", "cdn_fill")

    assert cdn == {"output_images", "preview_cache"} == set(terraform["locals"]["cdn_paths"])
    assert fill["for_each"] == "${local.cdn_paths}"
    assert fill["role"] == "roles/storage.objectViewer"
    assert fill["member"] == '${local.service_agents["cdn_fill"]}'
    assert "@cloud-cdn-fill.iam.gserviceaccount.com" in terraform["locals"]["service_agents"]["cdn_fill"]
    # The functions that hand images to people sign CDN URLs instead of making objects public.
    signers = {key for key, spec in function_specs(terraform).items() if spec["cdn_signer"]}
    assert signers == {"get_status", "review_gate", "preview_versions", "get_artifact"}


# -- 15. No project-wide roles/workflows.invoker ---------------------------------------------------


def test_nobody_holds_a_predefined_workflows_role(terraform):
    assert not re.search(r"roles/workflows\.", code(terraform)), "a predefined Workflows role is granted"
    assert "client_invokers" not in terraform["variable"]
    for name, body in terraform["resource"]["google_project_iam_member"].items():
        assert "workflows" not in json.dumps(body["role"]).replace("local.workflow_roles", ""), name


def test_only_the_starter_creates_executions_and_only_gate_answerers_send_callbacks(terraform):
    roles = terraform["locals"]["workflow_roles"]
    binding = resource(terraform, "google_project_iam_member", "workflow")
    specs = function_specs(terraform)
    by_account: dict[str, set[str]] = {}
    for key, spec in specs.items():
        by_account.setdefault(spec["account"], set()).add(key)

    assert {key: role["permissions"] for key, role in roles.items()} == {
        "starter": ["workflows.executions.create"], "gate_answerer": ["workflows.callbacks.send"]}
    assert binding["for_each"] == "${local.workflow_roles}"
    assert binding["member"] == "${google_service_account.account[each.key].member}"
    assert binding["role"] == "${google_project_iam_custom_role.workflow[each.key].name}"
    assert by_account["starter"] == {"start_generation", "reopen"}
    assert by_account["gate_answerer"] == {"review_gate", "chat_message"}
    # The accounts that may touch Workflows are not the workflow's or anyone else's.
    for other in ("functions", "phases", "workflow", "scheduler", "pubsub_push", "cicd", "build"):
        assert other not in roles


# -- 16. The emergency password is mounted nowhere -----------------------------------------------


def test_the_emergency_database_password_is_mounted_in_no_function(terraform):
    locals_ = terraform["locals"]
    mounted_ids = set(locals_["base_secret_env"]) | {"manga-cdn-signing-key", "manga-review-webhook-url"}
    mounts = json.dumps(locals_["function_secret_env"]) + json.dumps(locals_["base_secret_env"])

    assert set(locals_["break_glass_secrets"]) == {"manga-db-password", "manga-database-url"}
    assert set(locals_["break_glass_secrets"]) <= set(locals_["secret_ids"])
    for secret in locals_["break_glass_secrets"]:
        assert secret not in mounts
        assert secret not in mounted_ids
    for name in ("DB_PASSWORD", "DATABASE_URL"):
        assert name not in mounts
        assert name not in json.dumps(locals_["function_env"])
    # The password is used by its database user and kept in the two break-glass secrets, nowhere else.
    uses = re.findall(r"random_password\.db_password\.result", code(terraform))
    assert len(uses) == 3
    assert resource(terraform, "google_secret_manager_secret_iam_member", "break_glass")["member"] == (
        "${each.value.member}")
    assert "var.break_glass_members" in json.dumps(
        resource(terraform, "google_secret_manager_secret_iam_member", "break_glass")["for_each"])


def test_runtime_accounts_read_only_the_secrets_their_functions_mount(terraform):
    access = resource(terraform, "google_secret_manager_secret_iam_member", "runtime_access")
    pairs = terraform["locals"]["runtime_secret_access"]

    assert access["for_each"] == "${local.runtime_secret_access}"
    assert "keys(local.function_secret_env[key])" in pairs and "manga-redis-ca" in pairs
    assert "break_glass" not in pairs and "db-password" not in pairs


# -- 17. Redis TLS, Cloud SQL flags, ingress ------------------------------------------------------


def test_redis_encrypts_in_transit_and_the_clients_use_rediss_with_the_server_ca(terraform):
    redis = resource(terraform, "google_redis_instance", "manga_cache")
    values = terraform["locals"]["secret_values"]
    service = block(resource(terraform, "google_cloudfunctions2_function", "fn"), "service_config")
    volume = block(service, "secret_volumes")

    assert redis["transit_encryption_mode"] == "SERVER_AUTHENTICATION"
    assert redis["auth_enabled"] is True
    assert values["manga-redis-url"].startswith("rediss://:${google_redis_instance.manga_cache.auth_string}@")
    assert "ssl_cert_reqs=required&ssl_ca_certs=${local.redis_ca_dir}/${local.redis_ca_file}" in values[
        "manga-redis-url"]
    assert "server_ca_certs" in values["manga-redis-ca"]
    assert volume["mount_path"] == "${local.redis_ca_dir}"
    assert volume["secret"] == '${google_secret_manager_secret.secret["manga-redis-ca"].secret_id}'
    assert block(volume, "versions")["path"] == "${local.redis_ca_file}"


def test_the_redis_url_form_is_one_redis_py_accepts():
    """The URL Terraform writes, with made-up values, parses into a TLS connection checked
    against the mounted CA (redis-py is what mangaflow.stores.sessions uses)."""
    from redis.connection import SSLConnection, parse_url
    import redis

    url = ("rediss://:s3cr%2Ft@10.10.0.3:6378/0?ssl_cert_reqs=required"
           "&ssl_ca_certs=/etc/secrets/redis-ca/server-ca.pem")
    options = parse_url(url)
    pool = redis.ConnectionPool.from_url(url)

    assert options["host"] == "10.10.0.3" and options["port"] == 6378 and options["password"] == "s3cr/t"
    assert options["ssl_cert_reqs"] == "required"
    assert options["ssl_ca_certs"] == "/etc/secrets/redis-ca/server-ca.pem"
    assert pool.connection_class is SSLConnection


def test_cloud_sql_logs_what_an_audit_needs(terraform):
    settings = block(resource(terraform, "google_sql_database_instance", "manga_db"), "settings")
    flags = {flag["name"]: flag["value"] for flag in settings["database_flags"]}

    assert flags == {
        "cloudsql.iam_authentication": "on", "cloudsql.enable_pgaudit": "on", "pgaudit.log": "role,ddl",
        "log_checkpoints": "on", "log_connections": "on", "log_disconnections": "on",
        "log_lock_waits": "on", "log_hostname": "on", "log_duration": "on", "log_statement": "ddl",
        "log_min_messages": "warning", "log_min_error_statement": "error",
        "log_min_duration_statement": "-1",
    }
    assert block(settings, "ip_configuration")["ssl_mode"] == "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"


def test_only_the_functions_people_use_are_reachable_from_outside_and_only_through_the_edge(terraform):
    specs = function_specs(terraform)
    service = block(resource(terraform, "google_cloudfunctions2_function", "fn"), "service_config")

    assert service["ingress_settings"] == "${each.value.ingress}"
    assert "ALLOW_ALL" not in json.dumps(terraform["locals"]["functions"]) + json.dumps(
        terraform["locals"]["function_defaults"])
    assert {key for key, spec in specs.items() if "edge" in spec["callers"]} == EDGE_FUNCTIONS
    for key, spec in specs.items():
        expected = "ALLOW_INTERNAL_AND_GCLB" if "edge" in spec["callers"] else "ALLOW_INTERNAL_ONLY"
        assert spec["ingress"] == expected, key
        assert set(spec["callers"]) <= {"workflow", "scheduler", "pubsub", "edge"}, key
        assert spec["callers"], f"{key} has no caller"


def test_run_invoker_is_open_only_on_edge_functions(terraform):
    members = terraform["locals"]["caller_members"]

    assert members["edge"] == ["allUsers"]
    for kind in ("workflow", "scheduler", "pubsub"):
        assert not any(public in json.dumps(members[kind]) for public in PUBLIC_MEMBERS), kind
        assert len(members[kind]) == 1 and "google_service_account.account" in members[kind][0]


def test_workflow_scheduler_and_pubsub_targets_are_internal(terraform):
    specs = function_specs(terraform)

    for key, spec in specs.items():
        if spec["url_env"]:
            assert "workflow" in spec["callers"], key
        if "edge" not in spec["callers"]:
            assert spec["ingress"] == "ALLOW_INTERNAL_ONLY", key


def test_the_skip_of_the_ingress_check_is_the_one_these_tests_cover():
    text = (INFRA / "functions.tf").read_text(encoding="utf-8")

    assert "#checkov:skip=CKV_GCP_124:" in text
    assert "never ALLOW_ALL" in text

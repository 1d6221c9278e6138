"""The Terraform under infra/, parsed with python-hcl2 and held against the infrastructure design:
buckets and lifecycle rules, the function map and its sizes, the workflow's variables, scheduled
jobs, network and data services, no secrets in the code, every variable declared."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from terraform_model import (INFRA, REPO, all_tf_text, block, dynamic, exported_entry_points,
                             function_specs, resource, schedules_yaml)
from terraform_model import load as load_terraform


@pytest.fixture(scope="module")
def terraform() -> dict[str, Any]:
    return load_terraform()


# ------------------------------------------------------------------------------------------------
# Storage
# ------------------------------------------------------------------------------------------------

DESIGN_BUCKETS = {
    "input_data": [(90, "Delete", None)],
    "output_images": [],
    "preview_cache": [(30, "Delete", None)],
    "version_snapshots": [(7, "SetStorageClass", "NEARLINE"), (60, "Delete", None)],
    "final_products": [(30, "SetStorageClass", "NEARLINE"), (365, "SetStorageClass", "COLDLINE")],
    "temp_data": [(7, "Delete", None)],
}


def test_every_bucket_of_the_design_has_its_lifecycle_rules(terraform):
    buckets = terraform["locals"]["buckets"]

    assert set(buckets) == set(DESIGN_BUCKETS)
    for key, expected in DESIGN_BUCKETS.items():
        rules = [(rule["age"], rule["action"], rule["storage_class"])
                 for rule in buckets[key]["lifecycle_rules"]]
        assert rules == expected, key
        assert buckets[key]["name"] == "manga-" + key.replace("_", "-")


def test_the_bucket_resource_turns_every_rule_into_a_lifecycle_rule(terraform):
    bucket = resource(terraform, "google_storage_bucket", "bucket")
    [dynamic] = [d for d in bucket["dynamic"] if "lifecycle_rule" in d]
    rule = dynamic["lifecycle_rule"]

    assert bucket["for_each"] == "${local.buckets}"
    assert bucket["name"] == "${var.project_id}-${each.value.name}"
    assert bucket["uniform_bucket_level_access"] is True
    assert rule["for_each"] == "${each.value.lifecycle_rules}"
    content = block(rule, "content")
    assert block(content, "condition")["age"] == "${lifecycle_rule.value.age}"
    assert block(content, "action") == {"type": "${lifecycle_rule.value.action}",
                                        "storage_class": "${lifecycle_rule.value.storage_class}"}


# ------------------------------------------------------------------------------------------------
# Functions
# ------------------------------------------------------------------------------------------------

# Pub/Sub push subscribers the Terraform deploys before functions/main.py exports them (issue 17:
# another part of the team adds them to main.py). Once main.py exports one it stops counting as
# planned; test_planned_subscribers_are_only_the_pubsub_ones keeps this list honest.
PLANNED_SUBSCRIBERS: set[str] = set()  # all three are exported now (functions/entrypoints/events.py)
FUNCTIONS = exported_entry_points()


def function_spec(terraform: dict[str, Any], key: str) -> dict[str, Any]:
    return function_specs(terraform)[key]


def test_the_function_map_holds_every_function(terraform):
    functions = terraform["locals"]["functions"]
    not_exported = set(functions) - FUNCTIONS

    assert FUNCTIONS <= set(functions), f"exported by main.py, not deployed: {sorted(FUNCTIONS - set(functions))}"
    assert not_exported <= PLANNED_SUBSCRIBERS, (
        f"deployed by Terraform but not exported by functions/main.py: {sorted(not_exported - PLANNED_SUBSCRIBERS)}")
    names = [spec["name"] for spec in functions.values()]
    assert len(set(names)) == len(names)
    for key, spec in functions.items():
        assert re.fullmatch(r"[a-z][a-z0-9-]{0,61}[a-z0-9]", spec["name"]), key
        assert spec["name"] == key.replace("_", "-")


def test_planned_subscribers_are_only_the_pubsub_ones(terraform):
    specs = function_specs(terraform)

    for key in PLANNED_SUBSCRIBERS:
        assert specs[key]["callers"] == ["pubsub"], key


def test_functions_are_sized_as_the_design_says(terraform):
    phase5 = function_spec(terraform, "phase5_images")
    phase2 = function_spec(terraform, "phase2_characters")

    assert (phase5["cpu"], phase5["memory"], phase5["timeout"], phase5["concurrency"]) == (
        "2", "4Gi", 60, 5)
    assert phase2["memory"] == "3Gi"
    for phase in ("phase1_concept", "phase3_plot", "phase4_name", "phase6_lettering",
                  "phase7_finalize"):
        spec = function_spec(terraform, phase)
        assert (spec["cpu"], spec["memory"], spec["timeout"]) == ("1", "2Gi", 300), phase
        assert spec["min_instances"] == "${var.phase_min_instances}"
        assert spec["max_instances"] == "${var.phase_max_instances}"
    assert terraform["variable"]["phase_min_instances"]["default"] == 1
    assert terraform["variable"]["phase_max_instances"]["default"] == 50
    chat = function_spec(terraform, "chat_message")
    assert (chat["memory"], chat["timeout"]) == ("512Mi", 60)


def test_one_function_resource_deploys_the_map_from_one_hashed_bundle(terraform):
    assert list(terraform["resource"]["google_cloudfunctions2_function"]) == ["fn"]
    function = resource(terraform, "google_cloudfunctions2_function", "fn")
    build = block(function, "build_config")
    service = block(function, "service_config")
    source = resource(terraform, "google_storage_bucket_object", "function_source")

    assert function["for_each"] == "${local.function_specs}"
    assert build["runtime"] == "python311"
    assert build["entry_point"] == "${each.key}"
    assert block(block(build, "source"), "storage_source")["object"] == (
        "${google_storage_bucket_object.function_source.name}")
    assert "filesha256(var.function_source_zip)" in source["name"]
    assert source["source"] == "${var.function_source_zip}"
    assert service["available_memory"] == "${each.value.memory}"
    assert service["available_cpu"] == "${each.value.cpu}"
    assert service["timeout_seconds"] == "${each.value.timeout}"
    assert service["max_instance_request_concurrency"] == "${each.value.concurrency}"
    assert service["service_account_email"] == "${google_service_account.account[each.value.account].email}"


def test_functions_reach_sql_and_redis_through_the_vpc_and_read_secrets_from_secret_manager(
        terraform):
    service = block(resource(terraform, "google_cloudfunctions2_function", "fn"), "service_config")
    secrets = dynamic(service, "secret_environment_variables")

    assert service["direct_vpc_egress"] == "VPC_EGRESS_PRIVATE_RANGES_ONLY"
    assert "google_compute_network.manga_vpc" in block(service, "direct_vpc_network_interface")[
        "network"]
    assert secrets["for_each"] == "${local.function_secret_env[each.key]}"
    assert set(terraform["locals"]["base_secret_env"].values()) == {"REDIS_URL", "MANGAFLOW_SIGNING_KEY"}
    env = terraform["locals"]["function_env"]
    assert "MANGAFLOW_ANALYTICS" in json.dumps(env) and "GOOGLE_CLOUD_PROJECT" in json.dumps(env)


def test_functions_run_with_the_allocator_the_local_gateway_was_measured_with(terraform):
    """The cloud functions get, as glibc tunables, what `python -m localcloud.gateway` sets by default: two
    arenas, a fixed 2 MB mmap threshold (lean_allocator's mallopt values) and huge pages (with_hugepages)."""
    from localcloud import gateway

    text = json.dumps(terraform["locals"]["function_env"])
    match = re.search(r'GLIBC_TUNABLES = \\"([^"\\]+)\\"', text)
    assert match, text
    tunables = dict(item.split("=") for item in match.group(1).split(":"))
    assert tunables == {"glibc.malloc.arena_max": "2", "glibc.malloc.mmap_threshold": str(gateway.LEAN_MMAP_THRESHOLD),
                        gateway.HUGEPAGES_TUNABLE.split("=")[0]: gateway.HUGEPAGES_TUNABLE.split("=")[1]}


# ------------------------------------------------------------------------------------------------
# Workflow and its variables
# ------------------------------------------------------------------------------------------------


def workflow_env_names() -> set[str]:
    """Every sys.get_env name the workflow definitions ask for, dynamic phase URLs expanded."""
    names: set[str] = set()
    for path in (REPO / "workflows").glob("*.workflows.yaml"):
        text = path.read_text(encoding="utf-8")
        names |= set(re.findall(r'sys\.get_env\("([A-Z0-9_]+)"\)', text))
        if re.search(r'sys\.get_env\("PHASE"\s*\+\s*string\(\w+\)\s*\+\s*"_URL"\)', text):
            names |= {f"PHASE{n}_URL" for n in range(1, 8)}
    return names


def test_the_workflow_gets_a_url_for_every_variable_its_yaml_reads(terraform):
    url_envs = {spec["url_env"] for spec in terraform["locals"]["functions"].values()} - {""}
    wanted = workflow_env_names()

    assert {f"PHASE{n}_URL" for n in range(1, 8)} <= url_envs
    assert wanted, "no sys.get_env found in workflows/*.workflows.yaml"
    assert wanted <= url_envs, f"not provided by Terraform: {sorted(wanted - url_envs)}"


def test_the_workflow_resource_uses_the_yaml_and_the_url_map(terraform):
    workflow = resource(terraform, "google_workflows_workflow", "pipeline")
    env = terraform["locals"]["workflow_env"]

    assert workflow["user_env_vars"] == "${local.workflow_env}"
    assert "var.workflow_source" in workflow["source_contents"]
    assert (INFRA / terraform["variable"]["workflow_source"]["default"]).is_file()
    assert "google_cloudfunctions2_function.fn[key].url" in env
    assert 'google_service_account.account["workflow"]' in workflow["service_account"]


def test_the_workflow_may_invoke_every_function_it_calls(terraform):
    for key, spec in terraform["locals"]["functions"].items():
        if spec["url_env"]:
            assert "workflow" in spec["callers"], key
    invoker = resource(terraform, "google_cloud_run_v2_service_iam_member", "invoker")
    assert invoker["role"] == "roles/run.invoker"
    assert invoker["for_each"] == "${local.function_invokers}"


# ------------------------------------------------------------------------------------------------
# Scheduler
# ------------------------------------------------------------------------------------------------


def test_scheduled_jobs_call_their_functions_with_oidc(terraform):
    jobs = schedules_yaml()["jobs"]
    specs = function_specs(terraform)
    job = resource(terraform, "google_cloud_scheduler_job", "job")
    target = block(job, "http_target")
    oidc = block(target, "oidc_token")

    assert {j["function"] for j in jobs} == {"cleanup_sessions", "aggregate_analytics", "quality_report"}
    for entry in jobs:
        assert "scheduler" in specs[entry["function"]]["callers"], entry["name"]
    assert 'google_service_account.account["scheduler"].email' in oidc["service_account_email"]
    assert oidc["audience"] == target["uri"]


def test_schedules_are_hourly_daily_and_weekly():
    cron = {job["name"]: job["schedule"].split() for job in schedules_yaml()["jobs"]}
    bodies = {job["name"]: job["body"] for job in schedules_yaml()["jobs"]}

    minute, hour, dom, month, dow = cron["cleanup-sessions"]
    assert hour == "*" and minute.isdigit()
    for daily in ("aggregate-analytics", "daily-quality-report"):
        assert cron[daily][1].isdigit() and cron[daily][2:] == ["*", "*", "*"]
    assert cron["weekly-quality-trends"][4] == "1" and cron["weekly-quality-trends"][2] == "*"
    # Aggregation of yesterday has finished before the reports read it.
    assert int(cron["aggregate-analytics"][1]) < int(cron["daily-quality-report"][1])
    assert bodies["weekly-quality-trends"] == {"period": "weekly"}


# ------------------------------------------------------------------------------------------------
# Network and data services
# ------------------------------------------------------------------------------------------------


def test_the_vpc_and_subnets_follow_the_design(terraform):
    vpc = resource(terraform, "google_compute_network", "manga_vpc")
    subnets = {s["name"]: s["cidr"] for s in terraform["locals"]["subnets"].values()}

    assert vpc["name"] == "manga-service-vpc" and vpc["auto_create_subnetworks"] is False
    assert subnets == {"manga-public": "10.0.1.0/24", "manga-private": "10.0.2.0/24",
                       "manga-management": "10.0.3.0/24"}
    assert resource(terraform, "google_compute_router_nat", "manga_nat")[
        "source_subnetwork_ip_ranges_to_nat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"
    rules = terraform["locals"]["firewall_allow_rules"]
    assert rules["manga-allow-https"]["priority"] == 1000
    assert rules["manga-allow-health-check"]["source_ranges"] == ["130.211.0.0/22",
                                                                 "35.191.0.0/16"]
    assert resource(terraform, "google_compute_firewall", "deny_all_ingress")["priority"] == 65534
    assert resource(terraform, "google_service_networking_connection", "private_services")[
        "service"] == "servicenetworking.googleapis.com"


def test_cloud_sql_is_private_with_iam_auth_backups_and_pitr(terraform):
    instance = resource(terraform, "google_sql_database_instance", "manga_db")
    settings = block(instance, "settings")
    ip = block(settings, "ip_configuration")
    backup = block(settings, "backup_configuration")

    assert instance["database_version"] == "POSTGRES_15"
    flags = {f["name"]: f["value"] for f in settings["database_flags"]}

    assert ip["ipv4_enabled"] is False and ip["ssl_mode"] == "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"
    assert flags["cloudsql.iam_authentication"] == "on"
    assert backup["enabled"] is True and backup["point_in_time_recovery_enabled"] is True
    assert backup["transaction_log_retention_days"] == 7
    assert block(backup, "backup_retention_settings")["retained_backups"] == 30
    assert settings["disk_type"] == "PD_SSD" and settings["disk_autoresize"] is True
    iam_users = resource(terraform, "google_sql_user", "runtime_iam")
    assert iam_users["type"] == "CLOUD_IAM_SERVICE_ACCOUNT"
    assert iam_users["for_each"] == "${toset(local.runtime_accounts)}"


def test_memorystore_is_basic_redis_7_with_one_gigabyte(terraform):
    redis = resource(terraform, "google_redis_instance", "manga_cache")

    assert (redis["tier"], redis["redis_version"]) == ("BASIC", "REDIS_7_0")
    assert redis["memory_size_gb"] == "${var.redis_memory_gb}"
    assert terraform["variable"]["redis_memory_gb"]["default"] == 1
    assert redis["connect_mode"] == "PRIVATE_SERVICE_ACCESS"


def test_firestore_is_native(terraform):
    database = resource(terraform, "google_firestore_database", "chat")

    assert (database["name"], database["type"]) == ("(default)", "FIRESTORE_NATIVE")


def test_bigquery_tables_come_from_the_schema_files(terraform):
    tables = terraform["locals"]["bigquery_tables"]
    table = resource(terraform, "google_bigquery_table", "analytics")

    from mangaflow.stores import analytics

    assert set(tables) == set(analytics.TABLES)  # every table the code writes, locally and in BigQuery
    assert terraform["locals"]["analytics_dataset"] == "manga_quality_analytics"
    assert table["schema"] == '${file("${path.module}/../schemas/bigquery/${each.key}.json")}'
    assert table["clustering"] == "${each.value.clustering}"
    for name, layout in tables.items():
        fields = json.loads((REPO / "schemas" / "bigquery" / f"{name}.json").read_text())
        by_name = {f["name"]: f for f in fields}
        assert by_name[layout["partition"]]["type"] in {"TIMESTAMP", "DATE"}, name
        for column in layout["clustering"]:  # clustering columns exist and are not repeated
            assert by_name[column]["mode"] != "REPEATED", (name, column)
        for field in fields:
            assert field["type"] in {"STRING", "INTEGER", "FLOAT", "BOOLEAN", "TIMESTAMP",
                                     "DATE"}, (name, field)
            assert field["mode"] in {"REQUIRED", "NULLABLE", "REPEATED"}, (name, field)
            assert field.get("description"), (name, field["name"])


# ------------------------------------------------------------------------------------------------
# Hygiene: secrets, variables, references, versions
# ------------------------------------------------------------------------------------------------

SECRET_PATTERNS = [
    re.compile(r'(password|secret_data|auth_string|api_key|secret_key)\s*=\s*"(?!\$\{)[^"]+"',
               re.IGNORECASE),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"AIza[0-9A-Za-z_\-]{35}"),
    re.compile(r"rediss?://:[^$@]+@"),
]


def test_no_secret_is_written_in_the_terraform_or_the_example_tfvars():
    texts = {path.name: path.read_text(encoding="utf-8")
             for path in [*INFRA.glob("*.tf"), *INFRA.glob("*.tfvars*")]}

    for name, text in texts.items():
        for pattern in SECRET_PATTERNS:
            assert not pattern.search(text), f"{name}: {pattern.pattern}"
    assert not list(INFRA.glob("*.tfvars")), "real tfvars files stay out of the repository"
    assert "*.tfvars" in (INFRA / ".gitignore").read_text()


def test_secret_values_are_generated_not_given(terraform):
    app_user = resource(terraform, "google_sql_user", "app")
    version = resource(terraform, "google_secret_manager_secret_version", "secret")

    assert app_user["password"] == "${random_password.db_password.result}"
    assert version["secret_data"] == "${local.secret_values[each.key]}"
    assert not any("password" in name or "secret" in name for name in terraform["variable"])


def test_every_variable_used_is_declared_and_every_declared_one_used(terraform):
    text = all_tf_text()
    used = set(re.findall(r"\bvar\.([a-z_][a-z0-9_]*)", text))
    declared = set(terraform["variable"])

    assert used - declared == set(), "used but not declared"
    assert declared - used == set(), "declared but never used"
    for name, variable in terraform["variable"].items():
        assert variable.get("description"), name
        assert "type" in variable, name


def test_every_local_used_is_defined(terraform):
    used = set(re.findall(r"\blocal\.([a-z_][a-z0-9_]*)", all_tf_text()))

    assert used - set(terraform["locals"]) == set()


def test_every_resource_referenced_is_declared(terraform):
    values = json.dumps({kind: terraform[kind] for kind in ("resource", "data", "locals", "output")})
    referenced = set(re.findall(r"(?<!data\.)\b((?:google|random)_[a-z0-9_]+)\.([a-z0-9_]+)\b", values))
    declared = {(kind, name) for kind, named in terraform["resource"].items() for name in named}
    data_referenced = set(re.findall(r"\bdata\.((?:google|random)_[a-z0-9_]+)\.([a-z0-9_]+)\b", values))
    data_declared = {(kind, name) for kind, named in terraform["data"].items() for name in named}

    assert referenced - declared == set()
    assert data_referenced - data_declared == set()


def test_no_project_wide_basic_roles_for_the_runtime_accounts(terraform):
    accounts = terraform["locals"]["service_accounts"]
    runtime_roles = terraform["locals"]["runtime_roles"]

    for role in runtime_roles:
        assert role not in {"roles/owner", "roles/editor", "roles/storage.admin",
                            "roles/storage.objectAdmin", "roles/workflows.invoker"}, role
    for key in ("build", "workflow", "scheduler", "pubsub_push"):
        roles = accounts[key]["roles"]
        assert not {"roles/owner", "roles/editor", "roles/storage.admin"} & set(roles), key
    # Object access is granted per bucket, not on the project.
    assert resource(terraform, "google_storage_bucket_iam_member", "runtime_objects")[
        "role"] == "roles/storage.objectAdmin"
    assert set(accounts) == {"functions", "phases", "starter", "gate_answerer", "build", "workflow",
                             "scheduler", "pubsub_push", "cicd"}
    assert terraform["locals"]["runtime_accounts"] == ["functions", "phases", "starter", "gate_answerer"]
    # Only the phase functions talk to Gemini on Vertex AI (issue 11).
    assert "aiplatform.user" in accounts["phases"]["roles"]
    assert "roles/aiplatform.user" not in runtime_roles


def test_the_google_provider_is_pinned(terraform):
    [settings] = terraform["terraform"]
    google = settings["required_providers"][0]["google"] if isinstance(
        settings["required_providers"], list) else settings["required_providers"]["google"]

    assert google["source"] == "hashicorp/google"
    assert re.fullmatch(r"~> 7\.\d+", google["version"])
    assert settings["required_version"].startswith(">=")


def test_function_environment_uses_the_names_the_code_reads(terraform):
    from mangaflow import config

    env_text = json.dumps(terraform["locals"]["function_env"])
    extra_text = json.dumps(terraform["locals"]["function_extra_env"])

    for name in ("GOOGLE_CLOUD_PROJECT", "MANGAFLOW_REGION", "MANGAFLOW_PROVIDER",
                 "CLOUD_SQL_INSTANCE", "DB_NAME", "MANGAFLOW_WORKFLOW",
                 "MANGAFLOW_ANALYTICS", "BIGQUERY_DATASET", "MANGAFLOW_PUBLIC_URL"):
        assert re.search(rf"\b{name} = ", env_text), name
    assert "DB_USER = google_sql_user.runtime_iam[spec.account].name" in extra_text
    # MANGAFLOW_BUCKET_<KIND> for every bucket kind the settings know.
    assert set(terraform["locals"]["buckets"]) == set(config.BUCKET_KINDS)
    assert "MANGAFLOW_BUCKET_${upper(key)}" in env_text


def test_the_phase_functions_get_the_model_ids_and_the_budget(terraform):
    """Issue 11: models and the default budget are variables, handed to the phases' environment."""
    model_env = terraform["locals"]["model_env"]
    extra_text = json.dumps(terraform["locals"]["function_extra_env"])
    specs = function_specs(terraform)

    assert model_env == {"MANGAFLOW_TEXT_MODEL": "${var.text_model}",
                         "MANGAFLOW_IMAGE_MODEL": "${var.image_model}",
                         "MANGAFLOW_DEFAULT_BUDGET_USD": "${tostring(var.default_budget_usd)}"}
    assert 'if spec.account == \\"phases\\"' in extra_text
    assert {key for key, spec in specs.items() if spec["account"] == "phases"} == {
        f"phase{n}_{name}" for n, name in enumerate(
            ["concept", "characters", "plot", "name", "images", "lettering", "finalize"], start=1)} | {"translate"}
    from mangaflow.providers import vertex

    assert terraform["variable"]["text_model"]["default"] == vertex.DEFAULT_TEXT_MODEL
    assert terraform["variable"]["image_model"]["default"] == vertex.DEFAULT_IMAGE_MODEL
    assert terraform["variable"]["default_budget_usd"]["default"] > 0


def test_every_function_in_the_map_is_an_entry_point_of_main_py_or_a_planned_subscriber(terraform):
    missing = set(terraform["locals"]["functions"]) - exported_entry_points() - PLANNED_SUBSCRIBERS

    assert missing == set(), f"deployed by Terraform, not exported by main.py: {sorted(missing)}"


def test_the_example_tfvars_sets_only_declared_variables_and_every_required_one(terraform):
    from terraform_model import parse

    example = parse(INFRA / "terraform.tfvars.example")
    required = {name for name, variable in terraform["variable"].items() if "default" not in variable}

    assert set(example) <= set(terraform["variable"]), sorted(set(example) - set(terraform["variable"]))
    assert required <= set(example), sorted(required - set(example))

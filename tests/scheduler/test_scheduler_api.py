"""The REST surface: resource shapes the official client reads, listing, and bad input answered with
the API's error shape (400 and a message naming the field), never a stack trace."""
from __future__ import annotations

import base64

import pytest
import requests
from google.api_core import exceptions

from scheduler_support import PARENT, http_job

JOBS = f"/v1/{PARENT}/jobs"


def raw_job(**overrides):
    job = {"name": f"{PARENT}/jobs/raw", "schedule": "0 9 * * *", "timeZone": "Etc/UTC",
           "httpTarget": {"uri": "http://127.0.0.1:9/x", "httpMethod": "POST",
                          "body": base64.b64encode(b"{}").decode()}}
    job.update(overrides)
    return job


def test_the_rest_resource_has_the_apis_shape_and_defaults(scheduler):
    response = requests.post(scheduler.url + JOBS, json=raw_job(), timeout=5)
    assert response.status_code == 200
    job = response.json()
    assert job["name"] == f"{PARENT}/jobs/raw"
    assert job["state"] == "ENABLED"
    assert job["httpTarget"] == {"uri": "http://127.0.0.1:9/x", "httpMethod": "POST", "body": "e30="}
    assert job["retryConfig"] == {"maxRetryDuration": "0s", "minBackoffDuration": "5s",
                                  "maxBackoffDuration": "3600s", "maxDoublings": 5}
    assert job["attemptDeadline"] == "180s"
    assert job["scheduleTime"].endswith("Z") and job["userUpdateTime"].endswith("Z")
    numeric = requests.get(f"{scheduler.url}/v1/{job['name']}", params={"$alt": "json;enum-encoding=int"}, timeout=5)
    assert numeric.json()["state"] == 1 and numeric.json()["httpTarget"]["httpMethod"] == 1


def test_listing_pages_through_every_job(scheduler):
    client = scheduler.client()
    names = {client.create_job(parent=PARENT, job=http_job(f"job-{i}", "http://127.0.0.1:9/")).name for i in range(5)}
    other = "projects/test-project/locations/us-central1"
    client.create_job(parent=other, job={**http_job("elsewhere", "http://127.0.0.1:9/"),
                                         "name": f"{other}/jobs/elsewhere"})
    pager = client.list_jobs(request={"parent": PARENT, "page_size": 2})
    assert {job.name for job in pager} == names
    assert len(requests.get(scheduler.url + JOBS, params={"pageSize": 2}, timeout=5).json()["jobs"]) == 2


def test_delete_removes_the_job_and_its_history(scheduler, target):
    client = scheduler.client()
    job = client.create_job(parent=PARENT, job=http_job("gone", target.url))
    client.run_job(name=job.name)
    scheduler.wait_for_attempts(job.name, 1)
    client.delete_job(name=job.name)
    with pytest.raises(exceptions.NotFound):
        client.get_job(name=job.name)
    assert requests.get(f"{scheduler.url}/v1/{job.name}/attempts", timeout=5).status_code == 404
    again = client.create_job(parent=PARENT, job=http_job("gone", target.url))
    assert scheduler.attempts(again.name) == []


def test_the_client_sees_the_apis_exceptions(scheduler):
    client = scheduler.client()
    job = client.create_job(parent=PARENT, job=http_job("twice", "http://127.0.0.1:9/"))
    with pytest.raises(exceptions.Conflict, match="already exists"):
        client.create_job(parent=PARENT, job=http_job("twice", "http://127.0.0.1:9/"))
    with pytest.raises(exceptions.NotFound, match="Job not found"):
        client.get_job(name=f"{PARENT}/jobs/missing")
    with pytest.raises(exceptions.NotFound):
        client.pause_job(name=f"{PARENT}/jobs/missing")
    with pytest.raises(exceptions.BadRequest, match="not PAUSED"):
        client.resume_job(name=job.name)
    client.pause_job(name=job.name)
    with pytest.raises(exceptions.BadRequest, match="not ENABLED"):
        client.pause_job(name=job.name)
    with pytest.raises(exceptions.BadRequest, match="job.schedule"):
        client.create_job(parent=PARENT, job=http_job("bad-cron", "http://127.0.0.1:9/", schedule="every day at 9"))
    with pytest.raises(exceptions.BadRequest, match="job.timeZone"):
        client.create_job(parent=PARENT, job=http_job("bad-zone", "http://127.0.0.1:9/", time_zone="Mars/Olympus"))


HUGE = base64.b64encode(b"x" * (1024 * 1024 + 1)).decode()


@pytest.mark.parametrize("job, field", [
    (raw_job(schedule="61 * * * *"), "job.schedule"),
    (raw_job(schedule="* * * * * *"), "job.schedule"),
    (raw_job(schedule=""), "job.schedule"),
    (raw_job(timeZone="Asia/Atlantis"), "job.timeZone"),
    (raw_job(httpTarget={"uri": "http://127.0.0.1:9/", "body": HUGE}), "job.httpTarget.body"),
    (raw_job(httpTarget={"uri": "http://127.0.0.1:9/", "httpMethod": "GET", "body": "e30="}), "job.httpTarget.body"),
    (raw_job(httpTarget={"httpMethod": "POST"}), "job.httpTarget.uri"),
    (raw_job(httpTarget={"uri": "ftp://example.com/file"}), "job.httpTarget.uri"),
    (raw_job(httpTarget={"uri": "http://h/" + "a" * 2100}), "job.httpTarget.uri"),
    (raw_job(httpTarget={"uri": "http://h/", "headers": {"Bad Header": "x"}}), "job.httpTarget.headers"),
    (raw_job(httpTarget=None), "job.httpTarget"),
    ({k: v for k, v in raw_job().items() if k != "httpTarget"}, "job.httpTarget"),
    (raw_job(retryConfig={"retryCount": 6}), "job.retryConfig.retryCount"),
    (raw_job(retryConfig={"retryCount": -1}), "job.retryConfig.retryCount"),
    (raw_job(retryConfig={"minBackoffDuration": "60s", "maxBackoffDuration": "10s"}),
     "job.retryConfig.minBackoffDuration"),
    (raw_job(retryConfig={"maxDoublings": -2}), "job.retryConfig.maxDoublings"),
    (raw_job(retryConfig={"minBackoffDuration": "ten seconds"}), "minBackoffDuration"),
    (raw_job(attemptDeadline="5s"), "job.attemptDeadline"),
    (raw_job(attemptDeadline="3600s"), "job.attemptDeadline"),
    (raw_job(name=f"{PARENT}/jobs/has space"), "job.name"),
    (raw_job(name="projects/other/locations/x/jobs/stolen"), "job.name"),
    (raw_job(colour="blue"), "colour"),
    (raw_job(httpTarget={"uri": "http://h/", "httpMethod": "TELEPORT"}), "httpMethod"),
    ([1, 2, 3], "job"),
])
def test_bad_jobs_get_a_400_naming_the_field(shared_scheduler, job, field):
    scheduler = shared_scheduler
    if isinstance(job, dict) and job.get("httpTarget", "") is None:
        job = {**job, "httpTarget": {}}
    response = requests.post(scheduler.url + JOBS, json=job, timeout=10)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    assert field in error["message"]
    assert "Traceback" not in response.text
    assert requests.get(scheduler.url + JOBS, timeout=5).json()["jobs"] == []


def test_other_targets_are_refused_as_unimplemented(scheduler):
    job = raw_job(pubsubTarget={"topicName": "projects/p/topics/t", "data": "e30="})
    del job["httpTarget"]
    response = requests.post(scheduler.url + JOBS, json=job, timeout=5)
    assert response.status_code == 501
    assert "job.pubsubTarget" in response.json()["error"]["message"]


def test_malformed_requests_get_the_apis_error_shape(scheduler):
    url = scheduler.url + JOBS
    not_json = requests.post(url, data=b"{not json", headers={"Content-Type": "application/json"}, timeout=5)
    assert not_json.status_code == 400 and not_json.json()["error"]["status"] == "INVALID_ARGUMENT"
    too_big = requests.post(url, data=b"x" * (9 * 1024 * 1024), timeout=10)
    assert too_big.status_code == 413 and "1 MB" in too_big.json()["error"]["message"]
    bad_page = requests.get(url, params={"pageSize": 0}, timeout=5)
    assert bad_page.status_code == 400 and "pageSize" in bad_page.json()["error"]["message"]
    bad_token = requests.get(url, params={"pageToken": "!!"}, timeout=5)
    assert bad_token.status_code == 400 and "pageToken" in bad_token.json()["error"]["message"]
    bad_parent = requests.get(f"{scheduler.url}/v1/projects/p/locations/l/jobs/j:explode", timeout=5)
    assert bad_parent.status_code == 404
    unknown = requests.post(f"{scheduler.url}/v1/{PARENT}/jobs/j:explode", json={}, timeout=5)
    assert unknown.status_code == 404 and ":explode" in unknown.json()["error"]["message"]
    nowhere = requests.get(f"{scheduler.url}/v2/anything", timeout=5)
    assert nowhere.status_code == 404 and nowhere.json()["error"]["status"] == "NOT_FOUND"


def test_an_update_mask_may_name_only_updatable_fields(scheduler):
    client = scheduler.client()
    job = client.create_job(parent=PARENT, job=http_job("masked", "http://127.0.0.1:9/"))
    url = f"{scheduler.url}/v1/{job.name}"
    for mask, field in (("colour", "updateMask"), ("state", "updateMask"), ("schedule", "job.schedule")):
        response = requests.patch(url, params={"updateMask": mask}, json={"schedule": "bad", "state": "PAUSED"},
                                  timeout=5)
        assert response.status_code == 400 and field in response.json()["error"]["message"], response.text
    renamed = requests.patch(url, json={"name": f"{PARENT}/jobs/other", "schedule": "1 * * * *"}, timeout=5)
    assert renamed.status_code == 400 and "job.name" in renamed.json()["error"]["message"]
    assert client.get_job(name=job.name).schedule == "0 9 * * *"


def test_the_clock_moves_only_when_the_server_allows_it(scheduler, tmp_path):
    for body, field in (({}, "now"), ({"now": "yesterday"}, "now"), ({"now": "2030-01-01T00:00:00"}, "now"),
                        ({"advance_s": "ten"}, "advance_s"), ({"now": "2030-01-01T00:00:00Z", "advance_s": 1}, "now")):
        response = requests.post(f"{scheduler.url}/_clock", json=body, timeout=5)
        assert response.status_code == 400 and field in response.json()["error"]["message"], body
    moved = requests.post(f"{scheduler.url}/_clock", json={"now": "2030-01-01T00:00:00Z"}, timeout=5).json()
    assert moved["now"].startswith("2030-01-01T00:00:0") and moved["manual"] is True


def test_the_wall_clock_cannot_be_moved(tmp_path):
    import subprocess
    import sys
    import time

    from scheduler_support import REPO, free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "localcloud.scheduler", "serve", "--port", str(port),
                             "--data-dir", str(tmp_path)], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                health = requests.get(f"http://127.0.0.1:{port}/_health", timeout=1).json()
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        assert health["manualClock"] is False and health["healthy"] is True
        refused = requests.post(f"http://127.0.0.1:{port}/_clock", json={"advance_s": 60}, timeout=5)
        assert refused.status_code == 400 and "--manual-clock" in refused.json()["error"]["message"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_second_server_on_the_same_data_folder_is_refused(scheduler):
    import subprocess
    import sys

    from scheduler_support import REPO, free_port

    second = subprocess.run([sys.executable, "-m", "localcloud.scheduler", "serve", "--port", str(free_port()),
                             "--data-dir", str(scheduler.data_dir)], cwd=REPO, capture_output=True, text=True,
                            timeout=30)
    assert second.returncode == 1
    assert "in use by another server" in second.stderr and "Traceback" not in second.stderr


def test_the_health_check_a_supervisor_calls(scheduler):
    from localcloud.scheduler.health import check, healthy, version

    assert healthy(scheduler.port) is True
    assert version(scheduler.port) == "localcloud-scheduler 0.1.0"
    scheduler.stop()
    assert check(scheduler.port, timeout_s=1) == (False, None)

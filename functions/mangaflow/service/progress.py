"""What a person may do with a request from outside, as any client: follow its progress (a long
poll on the progress stream), fetch its artifacts, cancel it. The owner may do all three; the
holder of one of its gates' links may follow it and see its artifacts."""
from __future__ import annotations

import datetime as dt
import json
import mimetypes
import time
from dataclasses import dataclass
from typing import Any

from ..bootstrap import Stores
from ..config import settings
from ..errors import Forbidden, NotFound, UpstreamUnavailable, ValidationError
from ..stores import objects
from . import executions, live
from .access import Access

FINAL_STATUSES = ("completed", "failed", "cancelled")
# One blocking read stays well under the Redis client's 5 s socket timeout.
_WAIT_SLICE_MS = 4000
SIGNED_URL_TTL = dt.timedelta(minutes=15)
# Served inline; anything else (HTML above all) is a download, so a stored file can never run as
# a page on the functions' origin.
_INLINE_TYPES = ("image/png", "image/webp", "image/jpeg", "application/json", "application/pdf", "text/plain")
mimetypes.add_type("application/vnd.comicbook+zip", ".cbz")
mimetypes.add_type("image/webp", ".webp")


@dataclass(frozen=True)
class Artifact:
    """An object's bytes with their content type, or a signed URL to fetch them from."""

    name: str
    data: bytes = b""
    content_type: str = "application/octet-stream"
    redirect: str | None = None

    @property
    def inline(self) -> bool:
        return self.content_type in _INLINE_TYPES


def _check_execution(request_id: str, name: str) -> dict[str, Any]:
    """The execution resource, when it is this request's (its argument names the request)."""
    execution = executions.get_execution(name)
    try:
        argument = json.loads(execution.get("argument") or "{}")
    except ValueError:
        argument = {}
    if not isinstance(argument, dict) or argument.get("request_id") != request_id:
        raise Forbidden(f"execution {name} does not run request {request_id}", field="execution")
    return execution


def get_progress(stores: Stores, body: dict[str, Any], granted: Access) -> dict[str, Any]:
    """Events after the cursor `after`, waiting up to `wait_s` for the first one; with the request's
    status (and the execution's state when `execution` is given, "UNKNOWN" if the engine cannot say).
    A link holder does not see gate tokens and callback URLs, only the gates' existence."""
    request_id = body["request_id"]
    request = granted.request
    cursor, events = live.read(stores, request_id, body.get("after", "0"))
    deadline = time.monotonic() + float(body.get("wait_s", 0))
    while not events and request["status"] not in FINAL_STATUSES:
        remaining_ms = int((deadline - time.monotonic()) * 1000)
        if remaining_ms < 1:  # XREAD's BLOCK 0 would wait for ever
            break
        cursor, events = live.read(stores, request_id, cursor, block_ms=min(remaining_ms, _WAIT_SLICE_MS))
        request = stores.requests.get(request_id)
    if not granted.is_owner:
        events = [{k: v for k, v in event.items() if k not in ("token", "callback_url", "approval_url")}
                  for event in events]
    answer = {"request_id": request_id, "events": events, "cursor": cursor, "status": request["status"]}
    if body.get("execution"):
        try:
            answer["execution_state"] = _check_execution(request_id, body["execution"]).get("state", "UNKNOWN")
        except UpstreamUnavailable:
            answer["execution_state"] = "UNKNOWN"
    return answer


def get_artifact(stores: Stores, params: dict[str, Any]) -> Artifact:
    """One of the request's own objects (under `requests/{request_id}/` in the project's buckets);
    NotFound for anything else. With MANGAFLOW_SIGNED_URLS=1 a short-lived V4 signed URL instead.
    The caller is authorised for the request before this is called."""
    request_id, uri = params["request_id"], params["uri"]
    try:
        bucket, name = objects.parse_uri(uri)
    except objects.InvalidObject as err:
        raise ValidationError(str(err), field="uri") from None
    own = name.startswith(f"requests/{request_id}/") and ".." not in name.split("/")
    if bucket not in settings().buckets.values() or not own:
        raise NotFound(f"no artifact of request {request_id} at {uri}", field="uri")
    if settings().signed_urls:
        return Artifact(name, redirect=signed_url(bucket, name))
    try:
        data = stores.artifacts.get_bytes(uri)
    except FileNotFoundError:
        raise NotFound(f"no artifact of request {request_id} at {uri}", field="uri") from None
    return Artifact(name, data, mimetypes.guess_type(name)[0] or "application/octet-stream")


def signed_url(bucket: str, name: str) -> str:
    """A V4 signed GET URL valid for SIGNED_URL_TTL. Credentials that cannot sign themselves (a
    function's runtime service account) sign through the IAM signBlob API with their token."""
    import google.auth
    import google.auth.credentials
    import google.auth.transport.requests

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    signer: dict[str, Any] = {"credentials": credentials}
    if not isinstance(credentials, google.auth.credentials.Signing):
        credentials.refresh(google.auth.transport.requests.Request())
        signer = {"service_account_email": credentials.service_account_email, "access_token": credentials.token}
    blob = objects.object_store().client.bucket(bucket).blob(name)
    return blob.generate_signed_url(version="v4", expiration=SIGNED_URL_TTL, method="GET", **signer)


def cancel_generation(stores: Stores, body: dict[str, Any], granted: Access) -> dict[str, Any]:
    """Cancels the request's execution, marks the request cancelled, frees the user's slot and
    tells whoever follows it; a request that already ended is left as it is. Owner only."""
    if not granted.is_owner:
        raise Forbidden("only the request's owner may cancel it", field="request_id")
    request_id, request = body["request_id"], granted.request
    name = body.get("execution") or request.get("execution_name")
    if not name:
        raise NotFound(f"request {request_id} has no workflow execution to cancel", field="execution")
    execution = _check_execution(request_id, name)
    if request["status"] in FINAL_STATUSES:
        return {"request_id": request_id, "status": request["status"], "cancelled": False}
    if execution.get("state") == "ACTIVE":
        executions.cancel_execution(name)
    stores.requests.update(request_id, status="cancelled")
    stores.admission.release(request["user_id"], request_id)
    live.publish(stores, request_id, {"type": "cancelled", "status": "cancelled"})
    return {"request_id": request_id, "status": "cancelled", "cancelled": True}

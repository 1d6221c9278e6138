"""A local stand-in for Vertex AI's generateContent endpoint: the real URL, request checks, response and
error JSON, so `google-genai` talks to it unchanged. It is a wire-format stand-in, not a model.

Text answers come from the offline provider: VertexProvider puts each phase's inputs in a fenced JSON block
at the end of its prompt, and the stub reads them back from there. Image answers are a procedural PNG.
Control endpoints under /__stub__/ (never used by Vertex AI) inject failures, switch answer modes and list
the requests received, for tests:

    python -m localcloud.vertex_stub --port 8089 [--fail 429:2] [--mode normal|malformed|drop_quote|partial|empty]

    POST /__stub__/config {"mode": "malformed", "times": 1, "fail": {"code": 429, "count": 2}}
    GET /__stub__/requests (what was received), DELETE /__stub__/requests (forget it)
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import io
import json
import os
import re
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

GENERATE = re.compile(r"^/(?P<version>v1|v1beta1)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
                      r"/publishers/google/models/(?P<model>[^/:]+):generateContent$")
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                408: "DEADLINE_EXCEEDED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
                504: "DEADLINE_EXCEEDED"}
MODES = ("normal", "malformed", "drop_quote", "partial", "empty")
FENCED_JSON = re.compile(r"```json\s*\n(.*?)\n```", re.DOTALL)
ROLES = ("user", "model")
JSON_MIME_TYPES = ("text/plain", "application/json", "text/x.enum")
ASPECTS = {"1:1": (1024, 1024), "2:3": (832, 1248), "3:2": (1248, 832), "3:4": (864, 1184), "4:3": (1184, 864),
           "4:5": (896, 1152), "5:4": (1152, 896), "9:16": (768, 1344), "16:9": (1344, 768), "21:9": (1536, 672)}
MAX_RECORDED = 200


class StubState:
    """What the stub was told to do (mode, failures to inject) and what it received."""

    def __init__(self, mode: str = "normal", fail_code: int = 429, fail_count: int = 0) -> None:
        self.mode = mode
        self.mode_times: int | None = None  # answers left in `mode` before going back to normal; None: forever
        self.fail_code = fail_code
        self.fail_count = fail_count
        self.requests: list[dict] = []

    def describe(self) -> dict:
        return {"mode": self.mode, "times": self.mode_times, "fail": {"code": self.fail_code, "count": self.fail_count},
                "received": len(self.requests)}


def error_response(code: int, message: str) -> web.Response:
    """Google's error body: {"error": {"code", "message", "status"}}."""
    body = {"error": {"code": code, "message": message, "status": STATUS_NAMES.get(code, "UNKNOWN")}}
    return web.json_response(body, status=code)


def check_request(body: Any) -> str | None:
    """The INVALID_ARGUMENT message Vertex AI would give this body, or None when it is acceptable."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received. Expected an object at the top level."
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return ("Unable to submit request because it has an empty contents field. "
                "Add a contents field with at least one parts field.")
    for i, content in enumerate(contents):
        if not isinstance(content, dict):
            return f"Invalid value at 'contents[{i}]': expected an object."
        if content.get("role", "user") not in ROLES:
            return f"Please use a valid role: user, model. (contents[{i}].role is '{content.get('role')}')"
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            return ("Unable to submit request because it must include at least one parts field, "
                    f"which describes the prompt input. (contents[{i}])")
        for j, part in enumerate(parts):
            if not isinstance(part, dict) or not ({"text", "inlineData", "fileData"} & set(part)):
                return f"Invalid value at 'contents[{i}].parts[{j}]': a part needs text, inlineData or fileData."
            if "inlineData" in part:
                blob = part["inlineData"]
                try:
                    decode_bytes(blob["data"])
                    # protobuf JSON accepts a field's JSON name and its proto name alike
                    assert blob.get("mimeType") or blob.get("mime_type")
                except Exception:  # noqa: BLE001 - any shape problem is the same client error
                    return (f"Invalid value at 'contents[{i}].parts[{j}].inline_data': "
                            "data must be base64 with a mimeType.")
    config = body.get("generationConfig") or {}
    mime = config.get("responseMimeType")
    if mime is not None and mime not in JSON_MIME_TYPES:
        return f"Unsupported response mime type: {mime}. Allowed: {', '.join(JSON_MIME_TYPES)}."
    if ("responseSchema" in config or "responseJsonSchema" in config) and mime not in ("application/json",
                                                                                       "text/x.enum"):
        return "responseSchema requires responseMimeType application/json."
    return None


def decode_bytes(data: str) -> bytes:
    """protobuf JSON `bytes`: standard or URL-safe base64, padding optional."""
    padded = data + "=" * (-len(data) % 4)
    if "-" in data or "_" in data:
        return base64.urlsafe_b64decode(padded)
    return base64.b64decode(padded, validate=True)


def prompt_text(body: dict) -> str:
    return "\n".join(str(p.get("text") or "") for c in body["contents"] if c.get("role", "user") == "user"
                     for p in c["parts"])


def answer_text(body: dict, mode: str) -> str:
    """The text a phase call gets: the offline provider's output for the inputs in the prompt's JSON block."""
    if mode == "malformed":
        return '{"theme": "the model stopped mid-sentence", "themes": ['
    if mode == "empty":
        return ""
    blocks = FENCED_JSON.findall(prompt_text(body))
    if not blocks:
        return "{}"  # a JSON answer with nothing in it: the caller fills everything from its fallback
    payload = json.loads(blocks[-1])
    output = run_phase(payload)
    if mode == "drop_quote":
        drop_one_quote(output)
    if mode == "partial":  # an answer that stopped early: every other top-level field is missing
        output = {k: v for i, (k, v) in enumerate(output.items()) if i % 2 == 0}
    return json.dumps(output, ensure_ascii=False)


def run_phase(payload: dict) -> dict:
    from mangaflow.providers.offline import OfflineProvider

    provider = OfflineProvider()
    phase, inputs, feedback = payload.get("phase"), payload.get("inputs") or {}, payload.get("feedback")
    if phase == "panel_description":
        return provider.panel_description(inputs, str(payload.get("panel_id")), feedback)
    if phase in ("concept", "characters", "plot", "storyboard"):
        return getattr(provider, phase)(inputs, feedback)
    return {}


def drop_one_quote(output: dict) -> None:
    """Remove the first quoted line from a plot or storyboard, as a model sometimes does."""
    for scene in output.get("scenes") or []:
        for beat in scene.get("beats") or []:
            if beat.get("kind") == "dialogue":
                scene["beats"].remove(beat)
                return
    for page in output.get("pages") or []:
        for panel in page.get("panels") or []:
            for line in panel.get("dialogues") or []:
                if line.get("kind") not in ("narration", "sfx"):
                    panel["dialogues"].remove(line)
                    return


def panel_png(prompt: str, aspect: str, references: int) -> bytes:
    """A procedural grey-scale picture, deterministic for a prompt: screentone sky, ground line, one
    circle-headed figure per reference image. It is a placeholder, not generated art."""
    from PIL import Image, ImageDraw

    width, height = ASPECTS.get(aspect, ASPECTS["1:1"])
    seed = hashlib.sha256(prompt.encode()).digest()
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    horizon = int(height * (0.45 + seed[0] / 255 * 0.25))
    for y in range(0, horizon, 12):  # a dotted screentone above the horizon
        for x in range((y // 12) % 2 * 6, width, 12):
            draw.ellipse((x, y, x + 3, y + 3), fill=170)
    draw.line((0, horizon, width, horizon), fill=0, width=4)
    for k in range(max(1, references)):
        cx = int(width * (k + 1) / (max(1, references) + 1))
        r = int(min(width, height) * 0.08)
        draw.ellipse((cx - r, horizon - 4 * r, cx + r, horizon - 2 * r), outline=0, width=5, fill=235)
        draw.line((cx, horizon - 2 * r, cx, horizon + r), fill=0, width=5)
    draw.rectangle((0, 0, width - 1, height - 1), outline=0, width=6)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def tokens(text: str) -> int:
    return max(1, len(text) // 4)


def success_body(model: str, parts: list[dict], prompt: str, modality: str) -> dict:
    """A generateContent response as Vertex AI writes it (camelCase, usageMetadata, responseId...)."""
    out_tokens = sum(tokens(p.get("text", "")) if "text" in p else 1290 for p in parts)
    in_tokens = tokens(prompt)
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP",
                        "avgLogprobs": -0.12}],
        "usageMetadata": {"promptTokenCount": in_tokens, "candidatesTokenCount": out_tokens,
                          "totalTokenCount": in_tokens + out_tokens, "trafficType": "ON_DEMAND",
                          "promptTokensDetails": [{"modality": "TEXT", "tokenCount": in_tokens}],
                          "candidatesTokensDetails": [{"modality": modality, "tokenCount": out_tokens}]},
        "modelVersion": model,
        "createTime": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "responseId": uuid.uuid4().hex[:22],
    }


def make_app(state: StubState | None = None) -> web.Application:
    """The aiohttp application: generateContent plus the /__stub__/ control endpoints."""
    state = state or StubState()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app["state"] = state

    async def generate(request: web.Request) -> web.Response:
        match = GENERATE.match(request.path)
        if match is None:
            return error_response(404, f"The requested URL {request.path} was not found on this server.")
        raw = await request.read()
        try:
            body = json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            return error_response(400, f"Invalid JSON payload received. {error}")
        record = {"path": request.path, "model": match["model"], "time": time.time(),
                  "authorization": request.headers.get("Authorization", "")[:7], "body": body}
        state.requests = (state.requests + [record])[-MAX_RECORDED:]
        if not request.headers.get("Authorization", "").startswith("Bearer ") and \
                "x-goog-api-key" not in request.headers:
            return error_response(401, "Request is missing required authentication credential. Expected OAuth 2 "
                                       "access token, login cookie or other valid authentication credential.")
        if state.fail_count > 0:
            state.fail_count -= 1
            record["injected"] = state.fail_code
            message = {429: "Resource exhausted. Please try again later."}.get(
                state.fail_code, "The service is currently unavailable.")
            return error_response(state.fail_code, message)
        problem = check_request(body)
        if problem:
            return error_response(400, problem)
        config = body.get("generationConfig") or {}
        prompt = prompt_text(body)
        model = match["model"]
        if "IMAGE" in (config.get("responseModalities") or []) or "image" in model:
            references = sum(1 for c in body["contents"] for p in c["parts"] if "inlineData" in p)
            aspect = (config.get("imageConfig") or {}).get("aspectRatio", "1:1")
            png = await asyncio.to_thread(panel_png, prompt, aspect, references)
            parts = [{"inlineData": {"mimeType": "image/png", "data": base64.b64encode(png).decode()}}]
            return web.json_response(success_body(model, parts, prompt, "IMAGE"))
        mode = state.mode
        if state.mode_times is not None:
            state.mode_times -= 1
            if state.mode_times <= 0:
                state.mode, state.mode_times = "normal", None
        record["mode"] = mode
        try:
            text = await asyncio.to_thread(answer_text, body, mode)
        except Exception as error:  # noqa: BLE001 - the stand-in's own failure is a 500 like the real one
            return error_response(500, f"Internal error encountered. ({type(error).__name__}: {error})")
        return web.json_response(success_body(model, [{"text": text}], prompt, "TEXT"))

    async def get_requests(request: web.Request) -> web.Response:
        return web.json_response(state.requests)

    async def clear_requests(request: web.Request) -> web.Response:
        state.requests = []
        return web.json_response({"cleared": True})

    async def get_config(request: web.Request) -> web.Response:
        return web.json_response(state.describe())

    async def set_config(request: web.Request) -> web.Response:
        try:
            change = await request.json()
            mode = change.get("mode", state.mode)
            times = change.get("times")
            times = None if times is None else int(times)
            fail = change.get("fail") or {}
            code, count = int(fail.get("code", state.fail_code)), int(fail.get("count", state.fail_count))
        except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
            return error_response(400, 'config must be {"mode": ..., "times": N, "fail": {"code": 429, "count": 2}}')
        if mode not in MODES:
            return error_response(400, f"mode must be one of {', '.join(MODES)}")
        if code not in STATUS_NAMES or count < 0:
            return error_response(400, f"fail.code must be one of {sorted(STATUS_NAMES)}, fail.count >= 0")
        state.mode, state.mode_times, state.fail_code, state.fail_count = mode, times, code, count
        return web.json_response(state.describe())

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"healthy": True})

    app.router.add_get("/__stub__/health", health)
    app.router.add_get("/__stub__/requests", get_requests)
    app.router.add_delete("/__stub__/requests", clear_requests)
    app.router.add_get("/__stub__/config", get_config)
    app.router.add_post("/__stub__/config", set_config)
    app.router.add_route("*", "/{tail:.*}", generate)
    return app


def parse_fail(value: str) -> tuple[int, int]:
    """`429:2` -> (429, 2): answer the next 2 generateContent calls with 429."""
    try:
        code, count = value.split(":")
        return int(code), int(count)
    except ValueError:
        raise argparse.ArgumentTypeError("--fail must be CODE:COUNT, e.g. 429:2") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m localcloud.vertex_stub", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("VERTEX_STUB_PORT", "8089")))
    parser.add_argument("--mode", choices=MODES, default=os.environ.get("VERTEX_STUB_MODE", "normal"))
    parser.add_argument("--fail", type=parse_fail, default=parse_fail(os.environ.get("VERTEX_STUB_FAIL", "429:0")),
                        help="CODE:COUNT failures to answer first (default 429:0)")
    args = parser.parse_args(argv)
    state = StubState(args.mode, *args.fail)
    print(f"vertex stub listening on http://{args.host}:{args.port} (mode {args.mode})", flush=True)
    web.run_app(make_app(state), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()

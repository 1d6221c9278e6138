"""A local stand-in for Vertex AI's generateContent endpoint: the real URL, request checks, response and
error JSON, so `google-genai` talks to it unchanged. It is a wire-format stand-in, not a model.

Text answers come from the offline rules: VertexProvider puts each phase's inputs in a fenced JSON block at
the end of its prompt, and the stub reads them back from there. Image answers are inline PNG data as the
API returns it, with image tokens in usageMetadata, but the picture is plainly the stand-in's: a
procedural sketch marked "LOCAL VERTEX STAND-IN", showing the reference images it received as
thumbnails (the first one shows through: in page mode, the frames), and naming them in its PNG text
chunks ("References": their SHA-256s), so a test can tell which references were sent.

Safety-blocked answers, on request: an image prompt containing `stand-in:block-image` gets a candidate
with finishReason IMAGE_SAFETY and no image, `stand-in:block-prompt` a promptFeedback.blockReason
PROHIBITED_CONTENT and no candidate (a simplified prompt without the marker then gets an image).

Control endpoints under /__stub__/ (never used by Vertex AI) inject failures, blocks and hangs, switch
answer modes and list the requests received, for tests. Injections may be scoped with `match` to requests
whose `labels` (Vertex AI billing labels: VertexProvider sends mangaflow-request, mangaflow-phase,
mangaflow-operation) contain the given ones, so tests running side by side do not disturb each other:

    python -m localcloud.vertex_stub --port 8089 [--fail 429:2] [--mode normal|malformed|drop_quote|partial|empty]

    POST /__stub__/config {"mode": "malformed", "times": 1, "fail": {"code": 429, "count": 2}}
    POST /__stub__/inject {"match": {"mangaflow-request": "r-..."}, "fail": 429 | "block": "image" | "prompt"
                           | "empty" | "hang": SECONDS, "count": N}
    DELETE /__stub__/inject (drop every injection not yet used)
    GET /__stub__/requests[?label=VALUE] (what was received; inline data as its SHA-256 and size),
    DELETE /__stub__/requests (forget it)
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
MAX_RECORDED = 2000
IMAGE_OUTPUT_TOKENS = 1290  # what Gemini 2.5 Flash Image bills for one image up to 1024x1024
TILE_PX, TILE_TOKENS = 768, 258
STAND_IN_MARK = "LOCAL VERTEX STAND-IN: NOT MODEL ART"
BLOCK_IMAGE_MARKER = "stand-in:block-image"
BLOCK_PROMPT_MARKER = "stand-in:block-prompt"
INJECTIONS = ("fail", "block", "hang")


class StubState:
    """What the stub was told to do (mode, failures to inject) and what it received."""

    def __init__(self, mode: str = "normal", fail_code: int = 429, fail_count: int = 0) -> None:
        self.mode = mode
        self.mode_times: int | None = None  # answers left in `mode` before going back to normal; None: forever
        self.fail_code = fail_code
        self.fail_count = fail_count
        self.injections: list[dict] = []  # {"match": {label: value}, "fail"|"block"|"hang": ..., "count": n}
        self.requests: list[dict] = []

    def describe(self) -> dict:
        return {"mode": self.mode, "times": self.mode_times, "fail": {"code": self.fail_code, "count": self.fail_count},
                "injections": self.injections, "received": len(self.requests)}

    def take_injection(self, labels: dict) -> dict | None:
        """The first injection whose `match` the request's labels satisfy, counted down (and dropped at 0)."""
        for injection in self.injections:
            if all(labels.get(k) == v for k, v in injection.get("match", {}).items()):
                injection["count"] -= 1
                if injection["count"] <= 0:
                    self.injections.remove(injection)
                return injection
        return None


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
    """The offline rules' answer (called directly: the stand-in is not subject to the service's fault switch)."""
    from mangaflow import offline

    phase, inputs, feedback = payload.get("phase"), payload.get("inputs") or {}, payload.get("feedback")
    if phase == "panel_description":
        return offline.describe(inputs, str(payload.get("panel_id")), feedback)
    if phase in ("concept", "characters", "plot", "storyboard"):
        return getattr(offline, phase)(inputs, feedback)
    if phase == "translate":  # the marked stand-in lines: this is a wire-format stand-in, not a translator
        return offline.translate(inputs.get("lines") or [], str(inputs.get("source_language")),
                                 str(inputs.get("target_language")))
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


def inline_images(body: dict) -> list[bytes]:
    """The bytes of every inline image of the user turns, in order."""
    return [decode_bytes(p["inlineData"]["data"]) for c in body["contents"] if c.get("role", "user") == "user"
            for p in c["parts"] if "inlineData" in p]


def stand_in_png(prompt: str, aspect: str, references: list[bytes]) -> bytes:
    """The stand-in's picture (see the module docstring): deterministic for a prompt and its references."""
    from PIL import Image, PngImagePlugin

    from mangaflow.render import panel_art

    width, height = ASPECTS.get(aspect, ASPECTS["1:1"])
    shown = []
    for data in references:
        with Image.open(io.BytesIO(data)) as image:
            shown.append(image.convert("RGB"))
    picture = panel_art.marked_picture(prompt, (width, height), STAND_IN_MARK, shown)
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "localcloud.vertex_stub (a wire-format stand-in, not a model)")
    info.add_text("References", ",".join(hashlib.sha256(d).hexdigest() for d in references))
    out = io.BytesIO()
    picture.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def tokens(text: str) -> int:
    """About what Gemini counts: 4 characters of ASCII a token, a token for each 1.3 other characters."""
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return max(1, round(ascii_chars / 4 + (len(text) - ascii_chars) / 1.3))


def image_tokens(data: bytes) -> int:
    """An input image's tokens: 258 per 768x768 tile (258 in all up to 384x384)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
    if width <= TILE_PX // 2 and height <= TILE_PX // 2:
        return TILE_TOKENS
    return -(-width // TILE_PX) * -(-height // TILE_PX) * TILE_TOKENS


def usage(prompt: str, images: list[bytes], out_text: int, out_image: int) -> dict:
    """usageMetadata as Vertex AI writes it: prompt tokens by modality, candidates tokens by modality."""
    text_in = tokens(prompt)
    image_in = sum(image_tokens(d) for d in images)
    prompt_details = [{"modality": "TEXT", "tokenCount": text_in}] + (
        [{"modality": "IMAGE", "tokenCount": image_in}] if images else [])
    candidate_details = ([{"modality": "TEXT", "tokenCount": out_text}] if out_text else []) + (
        [{"modality": "IMAGE", "tokenCount": out_image}] if out_image else [])
    metadata = {"promptTokenCount": text_in + image_in, "totalTokenCount": text_in + image_in + out_text + out_image,
                "trafficType": "ON_DEMAND", "promptTokensDetails": prompt_details}
    if out_text or out_image:
        metadata["candidatesTokenCount"] = out_text + out_image
        metadata["candidatesTokensDetails"] = candidate_details
    return metadata


def answer_body(model: str, metadata: dict, candidates: list[dict] | None = None,
                prompt_feedback: dict | None = None) -> dict:
    """A generateContent response as Vertex AI writes it (camelCase, usageMetadata, modelVersion, responseId)."""
    body: dict = {}
    if candidates is not None:
        body["candidates"] = candidates
    if prompt_feedback is not None:
        body["promptFeedback"] = prompt_feedback
    body.update({"usageMetadata": metadata, "modelVersion": f"{model}-local-stand-in",
                 "createTime": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
                 "responseId": uuid.uuid4().hex[:22]})
    return body


def success_body(model: str, parts: list[dict], prompt: str, modality: str) -> dict:
    """A text answer: one candidate that stopped normally."""
    out = sum(tokens(p.get("text", "")) for p in parts)
    return answer_body(model, usage(prompt, [], out, 0),
                       [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "avgLogprobs": -0.12}])


def image_body(model: str, prompt: str, references: list[bytes], aspect: str, block: str | None) -> dict:
    """An image answer: the stand-in's PNG as inline data, or what a refusal looks like."""
    metadata = usage(prompt, references, 0, 0)
    if block == "prompt" or BLOCK_PROMPT_MARKER in prompt:
        return answer_body(model, metadata, prompt_feedback={
            "blockReason": "PROHIBITED_CONTENT",
            "blockReasonMessage": "The prompt could not be submitted: it may violate the usage policy (stand-in)."})
    if block == "image" or BLOCK_IMAGE_MARKER in prompt:
        return answer_body(model, metadata, [{"finishReason": "IMAGE_SAFETY", "finishMessage":
                                              "Unable to show the generated image: it may violate the usage policy."}])
    if block == "empty":
        text = "I can describe this scene, but I will not draw it."
        return answer_body(model, usage(prompt, references, tokens(text), 0),
                           [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}])
    png = stand_in_png(prompt, aspect, references)
    parts = [{"inlineData": {"mimeType": "image/png", "data": base64.b64encode(png).decode()}}]
    return answer_body(model, usage(prompt, references, 0, IMAGE_OUTPUT_TOKENS),
                       [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}])


def recorded_body(body: dict) -> dict:
    """The request body as it is kept for /__stub__/requests: inline data as its SHA-256 and size."""
    kept = json.loads(json.dumps(body))
    for content in kept.get("contents") or []:
        for part in (content.get("parts") or []) if isinstance(content, dict) else []:
            blob = part.get("inlineData") if isinstance(part, dict) else None
            if isinstance(blob, dict) and isinstance(blob.get("data"), str):
                try:
                    data = decode_bytes(blob["data"])
                except Exception:  # noqa: BLE001 - kept as received; check_request refuses it
                    continue
                blob["data"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    return kept


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
        labels = body.get("labels") if isinstance(body, dict) and isinstance(body.get("labels"), dict) else {}
        record = {"path": request.path, "model": match["model"], "time": time.time(),
                  "authorization": request.headers.get("Authorization", "")[:7],
                  "labels": labels, "body": recorded_body(body) if isinstance(body, dict) else body}
        state.requests = (state.requests + [record])[-MAX_RECORDED:]
        if not request.headers.get("Authorization", "").startswith("Bearer ") and \
                "x-goog-api-key" not in request.headers:
            return error_response(401, "Request is missing required authentication credential. Expected OAuth 2 "
                                       "access token, login cookie or other valid authentication credential.")
        injection = state.take_injection(labels)
        code = injection.get("fail") if injection else None
        if code is None and state.fail_count > 0:
            state.fail_count -= 1
            code = state.fail_code
        if code is not None:
            record["injected"] = code
            message = {429: "Resource exhausted. Please try again later."}.get(code, "The service is currently unavailable.")
            return error_response(code, message)
        if injection and injection.get("hang"):
            record["injected"] = "hang"
            await asyncio.sleep(float(injection["hang"]))
        problem = check_request(body)
        if problem:
            return error_response(400, problem)
        config = body.get("generationConfig") or {}
        prompt = prompt_text(body)
        model = match["model"]
        if "IMAGE" in (config.get("responseModalities") or []) or "image" in model:
            aspect = (config.get("imageConfig") or {}).get("aspectRatio", "1:1")
            block = injection.get("block") if injection else None
            if block:
                record["injected"] = f"block:{block}"
            answer = await asyncio.to_thread(image_body, model, prompt, inline_images(body), aspect, block)
            return web.json_response(answer)
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
        label = request.query.get("label")
        if label is None:
            return web.json_response(state.requests)
        return web.json_response([r for r in state.requests if label in (r.get("labels") or {}).values()])

    async def inject(request: web.Request) -> web.Response:
        usage_text = ('inject must be {"match": {label: value}, "count": N, and one of "fail": 429|500|503|..., '
                      '"block": "image"|"prompt"|"empty", "hang": seconds}')
        try:
            change = await request.json()
            match = change.get("match") or {}
            count = int(change.get("count", 1))
            kinds = [k for k in INJECTIONS if k in change]
            assert isinstance(match, dict) and all(isinstance(v, str) for v in match.values()) and count >= 1
            assert len(kinds) == 1
            injection = {"match": match, "count": count, kinds[0]: change[kinds[0]]}
            if "fail" in injection:
                assert int(injection["fail"]) in STATUS_NAMES
                injection["fail"] = int(injection["fail"])
            if "block" in injection:
                assert injection["block"] in ("image", "prompt", "empty")
            if "hang" in injection:
                injection["hang"] = float(injection["hang"])
                assert 0 < injection["hang"] <= 3600
        except (json.JSONDecodeError, AttributeError, AssertionError, TypeError, ValueError):
            return error_response(400, usage_text)
        state.injections.append(injection)
        return web.json_response(state.describe())

    async def clear_injections(request: web.Request) -> web.Response:
        state.injections = []
        return web.json_response(state.describe())

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
    app.router.add_post("/__stub__/inject", inject)
    app.router.add_delete("/__stub__/inject", clear_injections)
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

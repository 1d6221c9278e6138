"""What the review page shows besides its HTML: WebP thumbnails of panels and pages, lettered page
previews at the phase 6 gate, and the CJK web font subset to the page's own characters.

Each is made once and kept in the preview-cache bucket under a name derived from what it shows
(a changed bubble makes a new lettered preview; an unchanged page keeps its bytes), then served
by the review function locally or as a short-lived signed URL in the cloud.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import threading
from dataclasses import dataclass
from typing import Any

from ..bootstrap import Stores
from ..config import settings
from ..errors import NotFound, ValidationError
from ..stores import objects

THUMB_WIDTH = 360
LETTERED_SIDE = 1100
_FONT_LOCK = threading.Lock()


@dataclass(frozen=True)
class Served:
    """Bytes to send with their type, or a signed URL to send the browser to."""

    data: bytes = b""
    content_type: str = "application/octet-stream"
    redirect: str | None = None
    name: str = ""


def own_object(request_id: str, uri: str) -> tuple[str, str]:
    """(bucket, name) of one of the request's own objects; NotFound for anything else."""
    try:
        bucket, name = objects.parse_uri(uri)
    except objects.InvalidObject as err:
        raise ValidationError(str(err), field="uri") from None
    if bucket not in settings().buckets.values() or not name.startswith(f"requests/{request_id}/") \
            or ".." in name.split("/"):
        raise NotFound(f"no artifact of request {request_id} at {uri}", field="uri")
    return bucket, name


def _serve(stores: Stores, uri: str, content_type: str) -> Served:
    bucket, name = objects.parse_uri(uri)
    if settings().signed_urls:
        from ..service.progress import signed_url

        return Served(redirect=signed_url(bucket, name), name=name)
    return Served(stores.artifacts.get_bytes(uri), content_type, name=name)


def _cached(stores: Stores, name: str, content_type: str, make: Any) -> str:
    """The preview-cache object `name`, made by `make()` the first time."""
    uri = f"gs://{settings().bucket('preview_cache')}/{name}"
    if not stores.artifacts.exists(uri):
        uri = stores.artifacts.put_named("preview_cache", name, make(), content_type)
    return uri


def original(stores: Stores, request_id: str, uri: str) -> Served:
    """An object as stored (a full-size panel or page, the PDF, the CBZ)."""
    own_object(request_id, uri)
    import mimetypes

    try:
        return _serve(stores, uri, mimetypes.guess_type(uri)[0] or "application/octet-stream")
    except FileNotFoundError:
        raise NotFound(f"no artifact of request {request_id} at {uri}", field="uri") from None


def thumbnail(stores: Stores, request_id: str, uri: str) -> Served:
    """A WebP thumbnail THUMB_WIDTH wide of one of the request's images."""
    own_object(request_id, uri)
    digest = hashlib.sha256(uri.encode("utf-8")).hexdigest()[:32]

    def make() -> bytes:
        from PIL import Image

        try:
            data = stores.artifacts.get_bytes(uri)
        except FileNotFoundError:
            raise NotFound(f"no artifact of request {request_id} at {uri}", field="uri") from None
        with Image.open(io.BytesIO(data)) as image:
            image = image.convert("RGB")
            height = max(1, round(image.height * THUMB_WIDTH / image.width))
            small = image.resize((THUMB_WIDTH, height), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        small.save(out, "WEBP", quality=78, method=4)
        return out.getvalue()

    return _serve(stores, _cached(stores, f"requests/{request_id}/thumbs/{digest}-{THUMB_WIDTH}.webp",
                                  "image/webp", make), "image/webp")


def lettered_key(output: dict[str, Any], page_number: int) -> tuple[dict[str, Any], str]:
    """The storyboard page and a key naming exactly what its lettered preview shows."""
    page = next((p for p in output.get("pages", []) if int(p.get("page", 0)) == page_number), None)
    if page is None:
        raise NotFound(f"there is no page {page_number} in this version", field="page")
    ids = [str(q["panel_id"]) for q in page.get("panels", [])]
    placements = {d["panel_id"]: d.get("placements", []) for d in output.get("dialogue_placements", [])
                  if d["panel_id"] in ids}
    images = {d["panel_id"]: d.get("image_uri") for d in output.get("image_descriptions", []) if d["panel_id"] in ids}
    shown = [page, placements, images, output.get("reading_direction"), output.get("page_size_px"), LETTERED_SIDE]
    return page, hashlib.sha256(json.dumps(shown, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:40]


def lettered_page(stores: Stores, request_id: str, output: dict[str, Any], page_number: int) -> Served:
    """A phase 6 version's page with its art and lettering (no page number), as a WebP preview;
    rendered only when no preview of exactly this page exists yet."""
    page, key = lettered_key(output, page_number)

    def make() -> bytes:
        from PIL import Image

        from ..render.exports import preview_webp
        from ..render.pages import PAGE_SIZE_PX, compose_page

        ids = {str(q["panel_id"]) for q in page.get("panels", [])}
        art = {}
        for description in output.get("image_descriptions", []):
            if description["panel_id"] in ids and description.get("image_uri"):
                with Image.open(io.BytesIO(stores.artifacts.get_bytes(description["image_uri"]))) as image:
                    art[description["panel_id"]] = image.convert("RGB")
        placements = {d["panel_id"]: d.get("placements", []) for d in output.get("dialogue_placements", [])}
        image = compose_page(page, art, placements, page_size_px=tuple(output.get("page_size_px") or PAGE_SIZE_PX),
                             direction=output.get("reading_direction") or "rtl", page_numbers=False)
        return preview_webp(image, max_side=LETTERED_SIDE)

    return _serve(stores, _cached(stores, f"requests/{request_id}/lettered/{key}.webp", "image/webp", make),
                  "image/webp")


# -- the web font ---------------------------------------------------------------------------

_ASCII = "".join(chr(c) for c in range(0x21, 0x7f))


def font_key(text: str) -> tuple[str, str]:
    """(key, characters): the page's distinct characters beyond ASCII, and every printable ASCII one
    (so the nonce, a cursor or a time on the page never makes a new subset), and the subset's name."""
    characters = _ASCII + "".join(sorted(ch for ch in set(text) if ord(ch) > 0x7e and not ch.isspace()))
    return hashlib.sha256(characters.encode("utf-8")).hexdigest()[:24], characters


_REGISTERED: set[str] = set()  # keys this process knows are stored (a page is rendered many times)


def register_font(stores: Stores, text: str) -> str:
    """Note the characters a page is set in (once per set); returns the key its font is served by."""
    key, characters = font_key(text)
    if key not in _REGISTERED:
        _cached(stores, f"review-fonts/{key}.txt", "text/plain; charset=utf-8", lambda: characters.encode("utf-8"))
        _REGISTERED.add(key)
    return key


@functools.lru_cache(maxsize=64)
def _subset(characters: str) -> bytes:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    from ..render.fonts import font_path

    options = subset.Options()
    options.flavor = "woff2"
    with _FONT_LOCK:  # one subsetting at a time: each holds the whole 4.5 MB font in memory
        font = TTFont(str(font_path("sans")))
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=characters + " ?・…")
        subsetter.subset(font)
        out = io.BytesIO()
        font.flavor = "woff2"
        font.save(out)
    return out.getvalue()


def web_font(stores: Stores, key: str) -> Served:
    """Noto Sans JP (OFL) cut down to the characters registered under `key`, as WOFF2."""
    bucket = settings().bucket("preview_cache")
    try:
        characters = stores.artifacts.get_bytes(f"gs://{bucket}/review-fonts/{key}.txt").decode("utf-8")
    except FileNotFoundError:
        raise NotFound(f"no font subset {key}", field="key") from None
    uri = _cached(stores, f"review-fonts/{key}.woff2", "font/woff2", lambda: _subset(characters))
    # Always through the function: a font fetched from another origin would need CORS on the bucket.
    return Served(stores.artifacts.get_bytes(uri), "font/woff2", name=f"{key}.woff2")

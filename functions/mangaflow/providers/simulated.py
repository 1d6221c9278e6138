"""The offline provider taking a model's time: each text call takes a configurable time, and an image "model"
takes its time and answers with a marked sketch and the image model's token counts. The work of making the
answer happens inside that time (as a model's does), so a call takes exactly its latency. For timing the
orchestration against real-AI latencies (bench/bench_ai.py), never for art."""
from __future__ import annotations

import time
from typing import Callable

from ..config import settings
from . import pricing
from .base import ImageJob
from .calls import CallScope, CallSpec, Outcome, Reply
from .offline import OfflineProvider

PHASE_METHODS = ("concept", "characters", "plot", "storyboard", "panel_description")
SIMULATED_MODEL = "simulated"


class SimulatedProvider(OfflineProvider):
    """Sleeps `latency_s` (one number, or a mapping operation -> seconds) before each text call and
    `image_latency_s` before each image. Defaults: MANGAFLOW_SIMULATED_LATENCY_S,
    MANGAFLOW_SIMULATED_IMAGE_LATENCY_S."""

    name = "simulated"
    text_model = SIMULATED_MODEL
    draws_with_model = True

    def __init__(self, latency_s: float | dict[str, float] | None = None, scope: CallScope | None = None,
                 image_latency_s: float | None = None) -> None:
        super().__init__(scope)
        config = settings()
        self.latency_s = config.simulated_latency_s if latency_s is None else latency_s
        self.image_latency_s = config.simulated_image_latency_s if image_latency_s is None else image_latency_s
        self.calls: dict[str, int] = {m: 0 for m in PHASE_METHODS}
        self.images_drawn = 0

    def _rules(self, operation: str, rule: Callable[[], dict], item: str = "") -> dict:
        def send() -> Reply:
            started = time.monotonic()
            self.calls[operation] = self.calls.get(operation, 0) + 1
            value = rule()
            delay = self.latency_s.get(operation, 0.0) if isinstance(self.latency_s, dict) else self.latency_s
            time.sleep(max(0.0, delay - (time.monotonic() - started)))
            return Reply(value, model_version=self.text_model)

        return self.scope.call(CallSpec(operation, "text", self.name, self.text_model, item=item), send).reply.value

    def image(self, job: ImageJob) -> Outcome:
        from ..render import panel_art

        most = pricing.most_usage(len(job.prompt), [r.size_px for r in job.references], 0, 1, SIMULATED_MODEL)

        def send() -> Reply:
            started = time.monotonic()
            self.images_drawn += 1
            art = panel_art.png_bytes(panel_art.marked_picture(job.prompt, job.size_px, "SIMULATED MODEL: NOT ART"))
            time.sleep(max(0.0, self.image_latency_s - (time.monotonic() - started)))
            return Reply(art, usage=most, model_version=SIMULATED_MODEL)

        spec = CallSpec(f"{job.kind}_image", "image", self.name, SIMULATED_MODEL, most=most, item=job.item,
                        reference_sha256=tuple(r.sha256 for r in job.references), seed=job.seed)
        return self.scope.call(spec, send)

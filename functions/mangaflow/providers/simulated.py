"""The offline provider taking a model's time: a configurable sleep per call, and an image "model" that
sleeps, then answers with the procedural drawing and the image model's token counts. For timing the
orchestration against real-AI latencies (bench/bench_ai.py), never for art."""
from __future__ import annotations

import time

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

    def _wait(self, operation: str) -> None:
        self.calls[operation] = self.calls.get(operation, 0) + 1
        delay = self.latency_s.get(operation, 0.0) if isinstance(self.latency_s, dict) else self.latency_s
        if delay > 0:
            time.sleep(delay)

    def image(self, job: ImageJob) -> Outcome:
        from ..render import panel_art

        most = pricing.most_usage(len(job.prompt), [r.size_px for r in job.references], 0, 1, SIMULATED_MODEL)

        def send() -> Reply:
            self.images_drawn += 1
            if self.image_latency_s > 0:
                time.sleep(self.image_latency_s)
            width, height = job.size_px
            art = panel_art.marked_picture(job.prompt, (width, height), "SIMULATED MODEL: NOT ART")
            return Reply(panel_art.png_bytes(art), usage=most, model_version=SIMULATED_MODEL)

        spec = CallSpec(f"{job.kind}_image", "image", self.name, SIMULATED_MODEL, most=most, item=job.item,
                        reference_sha256=tuple(r.sha256 for r in job.references), seed=job.seed)
        return self.scope.call(spec, send)

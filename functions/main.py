"""Cloud Functions entry points (one deploy source, one entry point per function).

Each entry point gets its stores from the composition root, `mangaflow.bootstrap.stores()`, built
once per instance on first use (nothing connects at import)."""
import gc

from mangaflow.entrypoints.pipeline import (
    get_status,
    open_gate,
    phase1_concept,
    phase2_characters,
    phase3_plot,
    phase4_name,
    phase5_images,
    phase6_lettering,
    phase7_finalize,
    record_decision,
    record_failure,
    reopen,
    start_generation,
)
from mangaflow.entrypoints.progress import cancel_generation, get_artifact, get_progress
from mangaflow.entrypoints.translation import translate
from mangaflow.entrypoints.events import hitl_feedback_processor, phase_transition_handler, session_cleanup_service
from mangaflow.entrypoints.operations import (
    aggregate_analytics,
    chat_message,
    cleanup_sessions,
    preview_versions,
    quality_report,
    review_gate,
)

__all__ = [
    "start_generation",
    "get_status",
    "get_progress",
    "get_artifact",
    "cancel_generation",
    "translate",
    "reopen",
    "phase1_concept",
    "phase2_characters",
    "phase3_plot",
    "phase4_name",
    "phase5_images",
    "phase6_lettering",
    "phase7_finalize",
    "open_gate",
    "record_decision",
    "record_failure",
    "review_gate",
    "preview_versions",
    "chat_message",
    "cleanup_sessions",
    "aggregate_analytics",
    "quality_report",
    "hitl_feedback_processor",
    "phase_transition_handler",
    "session_cleanup_service",
]

# What the imports made lives as long as the instance: frozen out of the cyclic collector's sight, its full
# collections do not walk every module and schema again (the local gateway freezes after its warm-up too).
gc.collect()
gc.freeze()

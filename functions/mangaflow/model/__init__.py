"""The domain's shapes, defined once as pydantic models: the request, each phase's output, the feedback,
the quality verdicts and the rows the stores keep. Pure: no I/O, no cloud SDK.

Generated from them (`python -m mangaflow.model.generate`; tests/model fail when a file drifts): the JSON
Schemas in `schemas/phases/` (what `mangaflow.schemas.validate_output` checks every output against),
`docs/data-model.md`, and the Vertex AI response schemas (`vertex_schema(Model)`, computed when asked).
"""
from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError as _PydanticError

from ..errors import DomainError
from .base import MAX_ATTEMPTS, NOT_ASKED, Row, Shape
from .phases import (PHASE_OUTPUTS, Characters, Concept, Final, Images, Lettering, PanelImage, PhaseOutput, Plot,
                     Storyboard, TranslatedLine, TranslationAnswer, TranslationNote, output_model)
from .records import (ApprovalGate, Evaluation, Feedback, FeedbackRecord, GenerationRequest, PhaseRun,
                      PreviewVersion, QualityVerdict, Request, RequestHistory, RequestStatus)
from .story import Beat, Character, Condensed, Dialogue, ProcessingMetadata, Scene, StoryContext
from .vertex_schema import vertex_schema

__all__ = ["MAX_ATTEMPTS", "NOT_ASKED", "PHASE_OUTPUTS", "ApprovalGate", "Beat", "Character", "Characters",
           "Concept", "Condensed", "Dialogue", "Evaluation", "Feedback", "FeedbackRecord", "Final", "GenerationRequest",
           "Images", "Lettering", "PanelImage", "PhaseOutput", "PhaseRun", "Plot", "PreviewVersion",
           "ProcessingMetadata", "QualityVerdict", "Request", "RequestHistory", "RequestStatus", "Row", "Scene",
           "Shape", "StoryContext", "Storyboard", "TranslatedLine", "TranslationAnswer", "TranslationNote", "checked", "output_model", "vertex_schema"]

M = TypeVar("M", bound=BaseModel)


def checked(model: type[M], value: Any, what: str) -> M:
    """`value` as `model`; a mismatch is our bug, raised as a 500 naming `what` and the first bad field."""
    try:
        return model.model_validate(value)
    except _PydanticError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(value)"
        raise DomainError(f"{what} does not match {model.__name__} at {where}: {first['msg']}", status=500,
                          field=where) from None

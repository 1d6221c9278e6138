"""One exception tree for the domain: each error carries the HTTP status an entry point returns.

Entry points map `DomainError` to `{"error": message, "field": field}` with `status`; anything
else is a bug and becomes a 500 without leaking a stack trace.
"""
from __future__ import annotations


class DomainError(Exception):
    """A problem a person can act on; `status` is the HTTP status, `field` the offending field."""

    status: int = 422

    def __init__(self, message: str, status: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if status is not None:
            self.status = status

    def to_dict(self) -> dict:
        """The one HTTP error body shape."""
        body: dict = {"error": self.message, "status": self.status}
        if self.field is not None:
            body["field"] = self.field
        return body


class ValidationError(DomainError):
    """The request is malformed (400) or well-formed but unacceptable (422, the default)."""

    status = 422


class PayloadTooLarge(DomainError):
    """The story (or another field) is longer than its limit."""

    status = 413


class NotFound(DomainError):
    """A request, phase result, panel or session that does not exist."""

    status = 404


class Conflict(DomainError):
    """The action clashes with the current state (an approval gate already decided, ...)."""

    status = 409


class TooBusy(DomainError):
    """Admission refused for now (rate limit, or the caller's concurrent runs): retry later."""

    status = 429

    def __init__(self, message: str, field: str | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s

    def to_dict(self) -> dict:
        body = super().to_dict()
        if self.retry_after_s is not None:
            body["retry_after_s"] = round(self.retry_after_s, 1)
        return body


class UpstreamUnavailable(DomainError):
    """A model or service we depend on is down; the caller may retry later."""

    status = 503

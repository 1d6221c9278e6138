"""One exception tree for the whole service: each error carries the HTTP status an entry point
returns and a message a person can act on.

DomainError
  ValidationError (400/422)  PayloadTooLarge (413)  StoreValueError (422: a value a store refuses)
  Unauthenticated (401)  Forbidden (403)  NotFound (404)  Conflict (409)  TooBusy (429)
  UpstreamUnavailable (503)  StoreUnavailable (503: PostgreSQL, Redis, Cloud Storage, Firestore)
  ConfigError (500: a setting the service cannot use)  RenderError (500: pages, lettering, exports)
Entry points map a DomainError to `{"error": message, "status": status, "field": field}`; anything
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


class Unauthenticated(DomainError):
    """No credentials, or credentials that do not check out."""

    status = 401


class Forbidden(DomainError):
    """A known principal asking for something that is not theirs."""

    status = 403


class StoreValueError(ValidationError):
    """A value a store cannot keep (out of bounds, or text it cannot hold); the message names the field."""

    status = 422


class StoreUnavailable(UpstreamUnavailable):
    """A backing service (PostgreSQL, Redis, Cloud Storage, Firestore) could not be reached."""

    def __init__(self, service: str, where: str, cause: BaseException | None = None) -> None:
        self.service = service
        self.where = where
        reason = f": {type(cause).__name__}: {cause}" if cause else ""
        super().__init__(f"{service} is not reachable at {where}{reason} — {START_HINT}")


START_HINT = "start the local services with `mangaflow services up`"


class ConfigError(DomainError):
    """A setting (environment variable) holds a value the service cannot use; the message names it."""

    status = 500


class RenderError(DomainError):
    """Pages, lettering or exports could not be made from the content given."""

    status = 500

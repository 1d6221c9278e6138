"""The Pub/Sub stand-in's one error: a gRPC status code and a message naming the field and the limit,
on the project's DomainError; the service layer turns it into the RPC's status."""
from __future__ import annotations

import grpc

from mangaflow.errors import DomainError

# The HTTP status Google maps each gRPC code to, so DomainError.status stays meaningful.
_HTTP = {grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.OUT_OF_RANGE: 400, grpc.StatusCode.NOT_FOUND: 404,
         grpc.StatusCode.ALREADY_EXISTS: 409, grpc.StatusCode.FAILED_PRECONDITION: 400,
         grpc.StatusCode.UNIMPLEMENTED: 501, grpc.StatusCode.RESOURCE_EXHAUSTED: 429}


class PubSubError(DomainError):
    """An RPC failure the caller can act on."""

    def __init__(self, code: grpc.StatusCode, message: str, field: str | None = None) -> None:
        super().__init__(message, status=_HTTP.get(code, 500), field=field)
        self.code = code


def invalid(message: str, field: str | None = None) -> PubSubError:
    return PubSubError(grpc.StatusCode.INVALID_ARGUMENT, message, field)


def not_found(message: str, field: str | None = None) -> PubSubError:
    return PubSubError(grpc.StatusCode.NOT_FOUND, message, field)


def already_exists(message: str, field: str | None = None) -> PubSubError:
    return PubSubError(grpc.StatusCode.ALREADY_EXISTS, message, field)


def unimplemented(message: str, field: str | None = None) -> PubSubError:
    return PubSubError(grpc.StatusCode.UNIMPLEMENTED, message, field)

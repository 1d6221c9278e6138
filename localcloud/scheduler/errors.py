"""The scheduler's one error: Google's JSON error shape {"error": {"code", "message", "status"}}, as the
official client's REST transport expects, on the project's DomainError (status and field)."""
from __future__ import annotations

from aiohttp import web

from mangaflow.errors import DomainError


class ApiError(DomainError):
    """An API failure; `status` is the HTTP status, `code_name` the google.rpc code's name."""

    def __init__(self, status: int, code_name: str, message: str, field: str | None = None) -> None:
        super().__init__(message, status=status, field=field)
        self.code_name = code_name

    def response(self) -> web.Response:
        return web.json_response({"error": {"code": self.status, "message": self.message, "status": self.code_name}},
                                 status=self.status)


def invalid(message: str, field: str | None = None) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message, field)


def not_found(message: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", message)

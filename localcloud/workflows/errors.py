"""Errors of the local Workflows engine: runtime errors as workflows see them, deployment errors."""
from __future__ import annotations

from typing import Any


class WorkflowError(Exception):
    """A runtime error a workflow can catch: `value` is what `except: as: e` binds.

    For the standard tags it is a map such as
    {"message": "...", "tags": ["KeyError", "LookupError"]}; for HTTP errors it also carries
    `code`, `headers` and `body`; for `raise` of an arbitrary value it is that value itself.
    """

    def __init__(self, value: Any):
        self.value = value
        super().__init__(self._describe(value))

    @staticmethod
    def _describe(value: Any) -> str:
        if isinstance(value, dict):
            tags = value.get("tags")
            message = value.get("message", "")
            return f"{tags}: {message}" if tags else str(message or value)
        return str(value)

    @classmethod
    def tagged(cls, tags: str | list[str], message: str, **extra: Any) -> "WorkflowError":
        tag_list = [tags] if isinstance(tags, str) else list(tags)
        return cls({"message": message, "tags": tag_list, **extra})


class DeploymentError(Exception):
    """A definition the service would refuse to deploy; names the step (and line where known)."""

    def __init__(self, message: str, step: str | None = None, line: int | None = None):
        self.step = step
        self.line = line
        where = ""
        if step:
            where += f"step '{step}'"
        if line is not None:
            where += (", " if where else "") + f"line {line}"
        super().__init__(f"{where}: {message}" if where else message)

"""The google.pubsub.v1 services as the official library itself describes them: the RPCs (names,
request and response types, streaming) read from the `pubsub.proto` that `google-cloud-pubsub` ships,
the messages its own generated types. Nothing here restates the API by hand."""
from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import empty_pb2
from google.pubsub_v1 import types as pubsub_types

# Found without importing the client (and its publisher and subscriber machinery) into the server.
_CLIENT_PACKAGE = importlib.util.find_spec("google.cloud.pubsub_v1")
assert _CLIENT_PACKAGE is not None and _CLIENT_PACKAGE.origin is not None, "google-cloud-pubsub is not installed"
PROTO_FILE = Path(_CLIENT_PACKAGE.origin).parent / "proto" / "pubsub.proto"
PACKAGE = "google.pubsub.v1"
_SERVICE = re.compile(r"^service (\w+) \{(.*?)^\}", re.M | re.S)
_RPC = re.compile(r"rpc (\w+)\s*\(\s*(stream\s+)?([\w.]+)\s*\)\s*returns\s*\(\s*(stream\s+)?([\w.]+)\s*\)")


@dataclass(frozen=True)
class Rpc:
    service: str
    name: str
    request: Any  # the protobuf message class
    response: Any
    client_streaming: bool
    server_streaming: bool

    @property
    def path(self) -> str:
        return f"/{PACKAGE}.{self.service}/{self.name}"


def message_class(type_name: str) -> Any:
    if type_name == "google.protobuf.Empty":
        return empty_pb2.Empty
    return getattr(pubsub_types, type_name.removeprefix(PACKAGE + ".")).pb()


def services(proto_file: Path = PROTO_FILE) -> dict[str, list[Rpc]]:
    """{"Publisher": [Rpc, ...], "Subscriber": [...], "SchemaService"?: ...} as declared in the proto."""
    text = re.sub(r"//[^\n]*", "", proto_file.read_text(encoding="utf-8"))
    found: dict[str, list[Rpc]] = {}
    for service, body in _SERVICE.findall(text):
        found[service] = [Rpc(service, name, message_class(request), message_class(response),
                              bool(stream_in), bool(stream_out))
                          for name, stream_in, request, stream_out, response in _RPC.findall(body)]
    return found


def message(name: str) -> Any:
    """A google.pubsub.v1 message class by its short name ("Topic", "PubsubMessage", ...)."""
    return message_class(name)

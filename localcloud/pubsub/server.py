"""The gRPC server: the google.pubsub.v1 services as the library's proto declares them (an RPC this
stand-in does not implement answers UNIMPLEMENTED), plus the standard grpc.health.v1 service for
supervisors, whose answer carries the server's version in the `x-localcloud-version` metadata."""
from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from . import VERSION
from .broker import Broker
from .protocol import PACKAGE, Rpc, services
from .push import Pusher
from .service import Publisher, Subscriber
from .store import PubSubStore

log = logging.getLogger("localcloud.pubsub")

# Above the API's 10 MB publish limit, so an oversized request gets the API's own INVALID_ARGUMENT.
MAX_MESSAGE_BYTES = 20 * 1024 * 1024
VERSION_METADATA = "x-localcloud-version"


def _unimplemented(rpc: Rpc) -> Any:
    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{rpc.service}.{rpc.name} is not implemented by the "
                                                           "local Pub/Sub (snapshots, seek, schemas and detach are not).")
    return refuse


def _parsed(rpc: Rpc, behaviour: Any) -> Any:
    """Requests are parsed here, not by gRPC, so one that is not a valid message is INVALID_ARGUMENT."""
    from google.protobuf.message import DecodeError

    async def parse(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
        try:
            return rpc.request.FromString(raw)
        except DecodeError as err:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"The request is not a valid {rpc.request.DESCRIPTOR.full_name}: {err}")

    if rpc.client_streaming:
        async def streaming(raw_requests: Any, context: grpc.aio.ServicerContext) -> Any:
            async def requests() -> Any:
                async for raw in raw_requests:
                    yield await parse(raw, context)
            async for response in behaviour(requests(), context):
                yield response
        return streaming

    async def unary(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
        return await behaviour(await parse(raw, context), context)
    return unary


def _handler(rpc: Rpc, implementation: Any) -> grpc.RpcMethodHandler | None:
    """None for a kind of RPC the proto does not use today (gRPC then answers UNIMPLEMENTED itself)."""
    behaviour = getattr(implementation, rpc.name, None) or _unimplemented(rpc)
    kind = {(False, False): grpc.unary_unary_rpc_method_handler,
            (True, True): grpc.stream_stream_rpc_method_handler}.get((rpc.client_streaming, rpc.server_streaming))
    if kind is None:
        return None
    return kind(_parsed(rpc, behaviour), request_deserializer=None, response_serializer=rpc.response.SerializeToString)


class _Health(health.aio.HealthServicer):
    async def Check(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.send_initial_metadata(((VERSION_METADATA, VERSION),))
        return await super().Check(request, context)


class PubSubServer:
    """The broker, its push deliveries and the gRPC server on one event loop."""

    def __init__(self, host: str, port: int, data_dir: Path) -> None:
        self.host, self.port, self.data_dir = host, port, data_dir
        self.broker: Broker | None = None
        self._pusher: Pusher | None = None
        self._server: grpc.aio.Server | None = None

    async def start(self) -> None:
        self.broker = Broker(PubSubStore(self.data_dir))
        self._pusher = Pusher(self.broker)
        implementations = {"Publisher": Publisher(self.broker), "Subscriber": Subscriber(self.broker)}
        self._server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                                                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                                                ("grpc.so_reuseport", 0)])
        for service, rpcs in services().items():
            handlers = {rpc.name: handler for rpc in rpcs if (handler := _handler(rpc, implementations.get(service)))}
            self._server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(f"{PACKAGE}.{service}", handlers)])
        health_service = _Health()
        for name in ("", f"{PACKAGE}.Publisher", f"{PACKAGE}.Subscriber"):
            await health_service.set(name, health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(health_service, self._server)
        self.port = self._server.add_insecure_port(f"{self.host}:{self.port}")
        if not self.port:
            raise OSError(f"cannot listen on {self.host}:{self.port}")
        await self.broker.start()
        await self._pusher.start()
        await self._server.start()

    async def stop(self, grace_s: float = 1.0) -> None:
        if self._server is not None:
            await self._server.stop(grace_s)
        if self._pusher is not None:
            await self._pusher.stop()
        if self.broker is not None:
            await self.broker.stop()


async def serve_forever(host: str, port: int, data_dir: Path) -> None:
    server = PubSubServer(host, port, data_dir)
    await server.start()
    print(f"pubsub listening on {server.host}:{server.port} (data in {data_dir})", flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await stopping.wait()
    finally:
        await server.stop()

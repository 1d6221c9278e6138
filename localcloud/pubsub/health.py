"""Health for supervisors: the standard gRPC health check (grpc.health.v1.Health/Check) on the server's
own port; `healthy(port)` and `version(port)` for a Python supervisor, `python -m localcloud.pubsub
health --address HOST:PORT` (exit 0 when SERVING) for anything else."""
from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .server import VERSION_METADATA


def check(address: str, timeout_s: float = 2.0) -> tuple[bool, str | None]:
    """(serving, version) of the Pub/Sub server at host:port; (False, None) if it does not answer."""
    try:
        with grpc.insecure_channel(address) as channel:
            response, call = health_pb2_grpc.HealthStub(channel).Check.with_call(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout_s)
            metadata = dict(call.initial_metadata() or ())
    except grpc.RpcError:
        return False, None
    return response.status == health_pb2.HealthCheckResponse.SERVING, metadata.get(VERSION_METADATA)


def healthy(port: int, host: str = "127.0.0.1") -> bool:
    return check(f"{host}:{port}")[0]


def version(port: int, host: str = "127.0.0.1") -> str | None:
    return check(f"{host}:{port}")[1]

"""The blocking standard library against real local servers: http.*, retries on HTTP errors, sys.sleep."""
from __future__ import annotations

import asyncio
import json
import socket
from typing import Any, Awaitable, Callable

import pytest
from aiohttp import web

from localcloud.workflows.engine import Execution, deploy
from localcloud.workflows.errors import WorkflowError
from localcloud.workflows.runtime import Services, received_time_text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fixed(make: Callable[[], web.Response]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return make()

    return handler


class Upstream:
    """A small real HTTP server the workflows call: echo, JSON, text, errors, slowness, flakiness."""

    def __init__(self) -> None:
        self.flaky_calls = 0
        app = web.Application()
        app.router.add_route("*", "/echo", self.echo)
        app.router.add_get("/text", _fixed(lambda: web.Response(text="plain page")))
        app.router.add_get("/missing", _fixed(lambda: web.json_response({"why": "gone"}, status=404)))
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/flaky", self.flaky)
        app.router.add_get("/big", _fixed(lambda: web.Response(body=b"x" * (2 * 1024 * 1024 + 10),
                                                               content_type="application/octet-stream")))
        self.app = app
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def echo(self, request: web.Request) -> web.Response:
        raw = await request.read()
        return web.json_response({
            "method": request.method,
            "query": {k: request.query.getall(k) for k in request.query},
            "content_type": request.headers.get("Content-Type"),
            "x_panel": request.headers.get("X-Panel"),
            "body": raw.decode("utf-8"),
        }, headers={"X-Reply": "yes"})

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(0.5)
        return web.Response(text="late")

    async def flaky(self, request: web.Request) -> web.Response:
        self.flaky_calls += 1
        if self.flaky_calls < 3:
            return web.json_response({"busy": True}, status=503)
        return web.json_response({"attempt": self.flaky_calls})

    async def __aenter__(self) -> "Upstream":
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        port = _free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


def with_upstream(scenario: Callable[[Upstream, Services], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        services = Services()
        try:
            async with Upstream() as upstream:
                return await scenario(upstream, services)
        finally:
            await services.close()

    return asyncio.run(main())


async def run_wf(source: str, argument: Any, services: Services) -> Any:
    return await Execution(deploy(source), services=services).run(argument)


def test_http_post_json_body_query_headers() -> None:
    src = """
main:
  params: [args]
  steps:
    - call:
        call: http.post
        args:
          url: ${args.base + "/echo"}
          query:
            page: 3
            tag: ["a", "b"]
          headers:
            X-Panel: "7"
          body:
            bubble: "hello"
          auth:
            type: OIDC
        result: resp
    - r:
        return: ${resp}
"""

    async def scenario(up: Upstream, services: Services) -> Any:
        return await run_wf(src, {"base": up.url}, services)

    resp = with_upstream(scenario)
    assert resp["code"] == 200
    assert resp["headers"]["X-Reply"] == "yes"
    body = resp["body"]
    assert body["method"] == "POST"
    assert body["query"] == {"page": ["3"], "tag": ["a", "b"]}
    assert body["content_type"] == "application/json"
    assert body["x_panel"] == "7"
    assert json.loads(body["body"]) == {"bubble": "hello"}


def test_http_get_text_and_request_method() -> None:
    src = """
main:
  params: [args]
  steps:
    - t:
        call: http.get
        args:
          url: ${args.base + "/text"}
        result: text
    - j:
        call: http.request
        args:
          method: PUT
          url: ${args.base + "/echo"}
          body: "raw words"
          headers:
            Content-Type: text/plain
        result: put
    - r:
        return: [ "${text.body}", "${put.body.method}", "${put.body.body}" ]
"""

    async def scenario(up: Upstream, services: Services) -> Any:
        return await run_wf(src, {"base": up.url}, services)

    assert with_upstream(scenario) == ["plain page", "PUT", "raw words"]


def test_http_error_is_catchable_with_code_headers_body() -> None:
    src = """
main:
  params: [args]
  steps:
    - t:
        try:
          call: http.get
          args:
            url: ${args.base + "/missing"}
        except:
          as: e
          steps:
            - r:
                return: [ "${e.tags}", "${e.code}", "${e.body.why}", "${e.message}" ]
"""

    async def scenario(up: Upstream, services: Services) -> Any:
        return await run_wf(src, {"base": up.url}, services)

    tags, code, why, message = with_upstream(scenario)
    assert tags == ["HttpError"]
    assert code == 404
    assert why == "gone"
    assert "404" in message


def test_connection_refused_is_connection_failed_error() -> None:
    port = _free_port()
    src = f"""
- t:
    try:
      call: http.get
      args:
        url: http://127.0.0.1:{port}/nothing
    except:
      as: e
      steps:
        - r:
            return: ${{e.tags}}
"""

    async def scenario(up: Upstream, services: Services) -> Any:
        return await run_wf(src, None, services)

    assert with_upstream(scenario) == ["ConnectionFailedError"]


def test_http_timeout_is_timeout_error() -> None:
    src = """
main:
  params: [args]
  steps:
    - t:
        call: http.get
        args:
          url: ${args.base + "/slow"}
          timeout: 0.2
"""

    async def scenario(up: Upstream, services: Services) -> Any:
        with pytest.raises(WorkflowError) as info:
            await run_wf(src, {"base": up.url}, services)
        return info.value.value

    assert with_upstream(scenario)["tags"] == ["TimeoutError"]


def test_response_size_limit() -> None:
    src = """
main:
  params: [args]
  steps:
    - t:
        call: http.get
        args:
          url: ${args.base + "/big"}
"""

    async def scenario(up: Upstream, services: Services) -> Any:
        with pytest.raises(WorkflowError) as info:
            await run_wf(src, {"base": up.url}, services)
        return info.value.value

    assert with_upstream(scenario)["tags"] == ["ResourceLimitError"]


def test_retry_on_503_with_default_predicate() -> None:
    src = """
main:
  params: [args]
  steps:
    - t:
        try:
          call: http.get
          args:
            url: ${args.base + "/flaky"}
          result: resp
        retry:
          predicate: ${http.default_retry_predicate}
          max_retries: 4
          backoff:
            initial_delay: 0.01
            max_delay: 0.05
            multiplier: 2
    - r:
        return: ${resp.body.attempt}
"""

    async def scenario(up: Upstream, services: Services) -> Any:
        return await run_wf(src, {"base": up.url}, services)

    assert with_upstream(scenario) == 3


def test_bad_http_arguments() -> None:
    async def scenario(up: Upstream, services: Services) -> list[Any]:
        out = []
        for args in ('url: "ftp://x"', 'url: "http://x"\n        timeout: 5000', 'url: "http://x"\n        headers: [1]'):
            src = f"- c:\n    call: http.get\n    args:\n        {args}\n"
            with pytest.raises(WorkflowError) as info:
                await run_wf(src, None, services)
            out.append(info.value.value["tags"][0])
        return out

    assert with_upstream(scenario) == ["ValueError", "ValueError", "TypeError"]


def test_sys_sleep_holds_no_thread_and_checks_type() -> None:
    program = deploy("- s:\n    call: sys.sleep\n    args:\n      seconds: 0.05\n- r:\n    return: 1\n")

    async def many() -> list[Any]:
        return await asyncio.gather(*(Execution(program).run() for _ in range(100)))

    assert asyncio.run(many()) == [1] * 100
    with pytest.raises(WorkflowError) as info:
        asyncio.run(Execution(deploy("- s:\n    call: sys.sleep\n    args:\n      seconds: soon\n")).run())
    assert info.value.value["tags"] == ["TypeError"]


def test_received_time_format() -> None:
    assert received_time_text(0.5) == "1970-01-01 00:00:00.500000 +0000 UTC"

"""The gateway's HTTP surface: vLLM's OpenAI-compatible API in front of the engines, plus query control.

    POST /v1/completions, /v1/chat/completions   a call: scheduled, then forwarded as it came
    GET  /v1/models                              the engines' models, merged
    POST /v1/queries/{id}/finish                 the client is done with a query
    GET  /health                                 200 while some engine takes calls, else 503
    GET  /metrics                                Prometheus metrics of the gateway and its engines

Every refusal is a 4xx (or a 5xx the gateway's fault or an engine's) in OpenAI's error shape.
"""

import asyncio
import gc
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hexsim.live.call_body import BodyError, read_body
from hexsim.live.exchange import CallExchange
from hexsim.live.gateway import Gateway, GatewayError
from hexsim.live.gateway_metrics import gateway_registry
from hexsim.live.headers import HeaderError, read_workflow
from hexsim.live.openai_errors import error_response

MAX_BODY_BYTES = 8 * 1024 * 1024  # a 128k-token prompt of token ids is about 1 MB of JSON
FORWARDED_HEADERS = ("authorization",)
CALL_PATHS = ("/v1/completions", "/v1/chat/completions")


class _TooLarge(Exception):
    pass


def create_gateway_app(gateway: Gateway, max_body_bytes: int = MAX_BODY_BYTES, api_key: str | None = None):
    """The gateway as an ASGI app; scraping the engines and closing idle queries run for its lifespan.
    With `api_key`, every endpoint but /health wants `Authorization: Bearer <api_key>`."""
    registry = gateway_registry(gateway)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        gateway.open()
        await gateway.scrape()
        # What exists now (modules, profiles, the template) lives as long as the gateway: keeping it out
        # of the collector's passes spares requests the tens of milliseconds a full pass over it takes.
        gc.collect()
        gc.freeze()
        task = asyncio.create_task(gateway.run_background())
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            await gateway.close()

    async def call(scope, receive, send) -> None:
        """A call, in plain ASGI: the one path that carries load skips the framework's layers."""
        headers = Headers(scope=scope)
        try:
            answer = await opened_call(scope, receive, headers)
        except ClientDisconnect:
            return
        await answer(scope, receive, send)

    async def opened_call(scope, receive, headers: Headers):
        """The call's exchange with its engine, or the error answer that refuses it."""
        try:
            raw = await _read_limited(headers, receive, max_body_bytes)
        except _TooLarge:
            return error_response(f"the request body exceeds the gateway's limit of {max_body_bytes} bytes", 413)
        try:
            body = read_body(raw, chat=scope["path"] == "/v1/chat/completions")
            workflow = read_workflow(headers)
            opened = gateway.open_call(body, raw, workflow)
        except (BodyError, HeaderError) as error:
            return error_response(str(error), 400)
        except GatewayError as error:
            return error_response(error.message, error.status, error.retry_after)
        forwarded = {"content-type": "application/json", "accept-encoding": "identity"}
        if api_key is None:  # else the client's key is the gateway's, not the engines'
            forwarded |= {name: headers[name] for name in FORWARDED_HEADERS if name in headers}
        return CallExchange(gateway, opened, scope["path"], forwarded)

    async def finish(request: Request) -> Response:
        query = request.path_params["query"]
        if not gateway.finish_query(query):
            return error_response(f"no open query {query!r}", 404)
        return JSONResponse({"id": query, "object": "query", "finished": True})

    async def models(_: Request) -> Response:
        asked = (engine.get_json("/v1/models", 5.0) for engine in gateway.engines)
        cards: dict[str, dict] = {}
        for answer in await asyncio.gather(*asked, return_exceptions=True):
            if isinstance(answer, BaseException):
                continue
            with suppress(KeyError, TypeError):
                for card in answer["data"]:
                    cards.setdefault(card["id"], card)
        if not cards:
            return error_response("no engine answered GET /v1/models", 503)
        return JSONResponse({"object": "list", "data": list(cards.values())})

    async def health(_: Request) -> Response:
        engines = {e.name: "ok" if e.room else f"saturated: {e.error or 'metrics stale'}" for e in gateway.engines}
        status = 200 if any(e.room for e in gateway.engines) else 503
        return JSONResponse(
            {"status": "ok" if status == 200 else "unavailable", "engines": engines}, status_code=status
        )

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def http_error(_: Request, error: HTTPException) -> Response:
        return error_response(error.detail, error.status_code)

    routes = [
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/queries/{query:path}/finish", finish, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    rest = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})

    expected = f"Bearer {api_key}".encode() if api_key is not None else None

    async def app(scope, receive, send) -> None:
        if expected is not None and scope["type"] == "http" and scope["path"] != "/health":
            given = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
            if not hmac.compare_digest(given, expected):
                answer = error_response("a valid API key is required: Authorization: Bearer <key>", 401)
                answer.headers["www-authenticate"] = "Bearer"
                await answer(scope, receive, send)
                return
        if scope["type"] == "http" and scope["path"] in CALL_PATHS:
            if scope["method"] == "POST":
                await call(scope, receive, send)
            else:
                answer = error_response("Method Not Allowed", 405)
                answer.headers["allow"] = "POST"
                await answer(scope, receive, send)
        else:
            await rest(scope, receive, send)

    return app


async def _read_limited(headers: Headers, receive, limit: int) -> bytes:
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)

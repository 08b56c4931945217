"""The HTTP surface of vLLM's OpenAI-compatible server in front of an emulated engine.

`GET /v1/models`, `GET /health`, `GET /metrics` (Prometheus text, `emulator_metrics.py`),
`POST /v1/completions` and `POST /v1/chat/completions`, with vLLM's request and response
shapes (`emulator_requests.py`, `emulator_responses.py`) and errors in OpenAI's error shape.
`stream_interval` is vLLM's `--stream-interval`: a streamed request gets a chunk for its
first token, then one per that many tokens (or its own `stream_interval`, if larger), and one
for its last.
"""

import asyncio
import gc
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager, suppress

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from hexsim.errors import ParameterError
from hexsim.live.emulated_engine import EmulatedEngine
from hexsim.live.emulator_metrics import engine_registry
from hexsim.live.emulator_requests import Limits, RequestError, parse_chat, parse_completion
from hexsim.live.emulator_responses import chat_completion, chat_events, completion, completion_events
from hexsim.live.openai_errors import error_response
from hexsim.profiles.latency import Profile

__all__ = ["Limits", "create_app"]


def create_app(
    profile: Profile,
    model_name: str,
    scheduling: str = "fcfs",
    time_scale: float = 1.0,
    limits: Limits | None = None,
    stream_interval: int = 1,
    prefix_caching: bool = True,
) -> Starlette:
    """The HTTP server of one emulated engine; the engine loop runs for the app's lifespan.

    Without `limits`, the context length is what the KV cache holds and token ids are not checked.
    """
    engine = EmulatedEngine(profile, scheduling, time_scale, prefix_caching=prefix_caching)
    kv_tokens = profile.kv_capacity_tokens_usable
    limits = limits or Limits(kv_tokens)
    limits = Limits(min(limits.context_length, kv_tokens), limits.vocab_size)
    registry = engine_registry(engine, model_name)
    started = int(time.time())

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(engine.run())
        # As vLLM's API server does (`freeze_gc_heap`): the startup heap stays out of the collector's
        # full passes, which would otherwise stall every call in flight for tens of milliseconds.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def health(_: Request) -> Response:
        return Response(status_code=200)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def models(_: Request) -> Response:
        card = {
            "id": model_name,
            "object": "model",
            "created": started,
            "owned_by": "hexsim",
            "root": model_name,
            "max_model_len": limits.context_length,
        }
        return JSONResponse({"object": "list", "data": [card]})

    def endpoint(parse: Callable, whole: Callable, events: Callable, id_prefix: str) -> Callable:
        """A generation endpoint: validate the body, submit it, answer whole or streamed."""

        async def generate(request: Request) -> Response:
            try:
                body = json.loads(await request.body())
            except ValueError:
                return error_response("the request body is not valid JSON", 400)
            try:
                generation = parse(body, model_name, limits, stream_interval)
            except RequestError as error:
                return error_response(str(error), error.status)
            interval = generation.stream_interval if generation.stream else None
            try:
                handle = engine.submit(
                    generation.prompt_tokens, generation.max_tokens, generation.priority, interval, generation.prompt
                )
            except ParameterError as error:
                return error_response(error.message, 400)
            head = {"id": f"{id_prefix}-{uuid.uuid4().hex}", "created": int(time.time()), "model": model_name}
            if generation.stream:
                return StreamingResponse(events(engine, handle, generation, head), media_type="text/event-stream")
            async with aclosing(engine.tokens(handle)) as tokens:
                async for _ in tokens:
                    pass
            return JSONResponse(whole(head, generation))

        return generate

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/completions", endpoint(parse_completion, completion, completion_events, "cmpl"), methods=["POST"]),
        Route(
            "/v1/chat/completions",
            endpoint(parse_chat, chat_completion, chat_events, "chatcmpl"),
            methods=["POST"],
        ),
    ]
    return Starlette(routes=routes, lifespan=lifespan)

"""The HTTP surface of vLLM's OpenAI-compatible server in front of an emulated engine.

`GET /v1/models`, `GET /health` and `POST /v1/completions` with vLLM's request and response
shapes, errors in OpenAI's error shape. A string prompt counts one token per
whitespace-separated word, a list of token ids one token per id; every generated token is the
text " token" (a request always generates exactly `max_tokens` tokens: no EOS). As vLLM does,
it refuses a request whose prompt and `max_tokens` exceed the context length (the model's,
and never more than its KV cache holds) and token ids outside the vocabulary. It returns one
choice per request: `n` other than 1 is refused.
"""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager, suppress
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from hexsim.errors import ParameterError
from hexsim.live.emulated_engine import EmulatedEngine, EngineRequest
from hexsim.live.openai_errors import error_response
from hexsim.profiles.latency import Profile

TOKEN_TEXT = " token"
DEFAULT_MAX_TOKENS = 16  # OpenAI's default for /v1/completions


class _RequestError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """What a request may ask of the model: tokens in context, and token ids below `vocab_size` (if known)."""

    context_length: int
    vocab_size: int | None = None


@dataclass(frozen=True)
class _Completion:
    prompt_tokens: int
    max_tokens: int
    priority: int
    stream: bool
    include_usage: bool
    continuous_usage: bool


def _parse_completion(body: object, model_name: str, limits: Limits) -> _Completion:
    """Validate a /v1/completions body as vLLM does; raises _RequestError."""
    if not isinstance(body, dict):
        raise _RequestError("the request body must be a JSON object")
    model = body.get("model")
    if model is not None and model != model_name:
        raise _RequestError(f"The model `{model}` does not exist.", 404)
    max_tokens = _integer(body, "max_tokens", DEFAULT_MAX_TOKENS, minimum=1)
    min_tokens = _integer(body, "min_tokens", 0, minimum=0)
    if min_tokens > max_tokens:
        raise _RequestError(f"min_tokens must be less than or equal to max_tokens={max_tokens}, got {min_tokens}")
    priority = _integer(body, "priority", 0, minimum=None)
    n = _integer(body, "n", 1, minimum=1)
    if n != 1:
        raise _RequestError(f"n must be 1: the emulator returns one choice per request, got {n}")
    _boolean(body, "ignore_eos")
    stream = _boolean(body, "stream")
    options = body.get("stream_options")
    if options is not None and not stream:
        raise _RequestError("Stream options can only be defined when `stream=True`.")
    if options is not None and not isinstance(options, dict):
        raise _RequestError("stream_options must be an object")
    include_usage = _boolean(options or {}, "include_usage")
    continuous = include_usage and _boolean(options or {}, "continuous_usage_stats")
    prompt_tokens = _prompt_tokens(body.get("prompt"), limits)
    if prompt_tokens + max_tokens > limits.context_length:
        raise _RequestError(
            f"This model's maximum context length is {limits.context_length} tokens. However, you requested "
            f"{max_tokens} output tokens and your prompt contains {prompt_tokens} input tokens, "
            f"for a total of {prompt_tokens + max_tokens} tokens."
        )
    return _Completion(prompt_tokens, max_tokens, priority, stream, include_usage, continuous)


def _prompt_tokens(prompt: object, limits: Limits) -> int:
    if prompt is None:
        raise _RequestError("prompt is required")
    if isinstance(prompt, str):
        count = len(prompt.split())
    elif isinstance(prompt, list) and all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in prompt):
        count = len(prompt)
        if count and limits.vocab_size is not None and max(prompt) >= limits.vocab_size:
            raise _RequestError(
                f"Token id {max(prompt)} is out of vocabulary (the model has {limits.vocab_size} tokens)"
            )
    else:
        raise _RequestError("prompt must be a string or a list of token ids")
    if count == 0:
        raise _RequestError("prompt must not be empty")
    return count


def _integer(body: dict, key: str, default: int, minimum: int | None) -> int:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or (minimum is not None and value < minimum):
        rule = "an integer" if minimum is None else f"an integer >= {minimum}"
        raise _RequestError(f"{key} must be {rule}, got {value!r}")
    return value


def _boolean(body: dict, key: str) -> bool:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise _RequestError(f"{key} must be a boolean, got {value!r}")
    return bool(value)


def _usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def create_app(
    profile: Profile,
    model_name: str,
    scheduling: str = "fcfs",
    time_scale: float = 1.0,
    limits: Limits | None = None,
) -> Starlette:
    """The HTTP server of one emulated engine; the engine loop runs for the app's lifespan.

    Without `limits`, the context length is what the KV cache holds and token ids are not checked.
    """
    engine = EmulatedEngine(profile, scheduling, time_scale)
    kv_tokens = profile.kv_capacity_tokens_usable
    limits = limits or Limits(kv_tokens)
    limits = Limits(min(limits.context_length, kv_tokens), limits.vocab_size)
    started = int(time.time())

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(engine.run())
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def health(_: Request) -> Response:
        return Response(status_code=200)

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

    async def completions(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return error_response("the request body is not valid JSON", 400)
        try:
            parsed = _parse_completion(body, model_name, limits)
        except _RequestError as error:
            return error_response(str(error), error.status)
        try:
            handle = engine.submit(parsed.prompt_tokens, parsed.max_tokens, parsed.priority)
        except ParameterError as error:
            return error_response(error.message, 400)
        head = {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model_name,
        }
        if parsed.stream:
            return StreamingResponse(_events(engine, handle, parsed, head), media_type="text/event-stream")
        async with aclosing(engine.tokens(handle)) as tokens:
            async for _ in tokens:
                pass
        choices = [_choice(TOKEN_TEXT * parsed.max_tokens, "length")]
        return JSONResponse(head | {"choices": choices, "usage": _usage(parsed.prompt_tokens, parsed.max_tokens)})

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/completions", completions, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


async def _events(engine: EmulatedEngine, handle: EngineRequest, parsed: _Completion, head: dict) -> AsyncIterator[str]:
    """vLLM's SSE stream: one chunk per token (the last one says why it finished), usage, [DONE]."""
    async with aclosing(engine.tokens(handle)) as tokens:
        async for count in tokens:
            choices = [_choice(TOKEN_TEXT, "length" if count == parsed.max_tokens else None)]
            usage = _usage(parsed.prompt_tokens, count) if parsed.continuous_usage else None
            yield _event(head | {"choices": choices, "usage": usage})
    if parsed.include_usage:
        yield _event(head | {"choices": [], "usage": _usage(parsed.prompt_tokens, parsed.max_tokens)})
    yield "data: [DONE]\n\n"


def _event(data: dict) -> str:
    return f"data: {json.dumps(data)}\n\n"


def _choice(text: str, finish_reason: str | None) -> dict:
    return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason, "stop_reason": None}

"""An OpenAI-compatible stand-in for a vLLM server whose timing follows a `Profile`.

`EmulatedEngine` batches like vLLM v1 with continuous batching. One asyncio loop runs
iterations back to back while there is work. In each iteration every request that has
finished its prompt decodes one token (one token of the budget each); the rest of
`max_num_batched_tokens` goes to prompt chunks, first of running requests, then of waiting
requests admitted first come first served while fewer than `max_num_seqs` run (chunked
prefill: a long prompt is computed over several iterations). An iteration lasts
`profile.coefficients.iteration_time(P, Q, n, C)` seconds of wall time and its tokens are
emitted at its end, so a request's first token appears at the end of the iteration that
completes its prompt. Iteration ends are scheduled on the loop's absolute clock, so the
overshoot of each sleep does not accumulate.

Not modelled: the KV-cache capacity and preemption (every admitted request runs to the
end), EOS (a request always generates exactly `max_tokens` tokens), sampling and prefix
caching.

`create_app` puts the HTTP surface of vLLM's OpenAI server in front of an engine:
`GET /v1/models`, `GET /health` and `POST /v1/completions` with vLLM's request and response
shapes. A string prompt counts one token per whitespace-separated word, a list of token ids
one token per id; every generated token is the text " token".
"""

import asyncio
import json
import logging
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing, asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from hexsim.errors import InputError
from hexsim.profiles.latency import Profile

TOKEN_TEXT = " token"
DEFAULT_MAX_TOKENS = 16  # OpenAI's default for /v1/completions
STARTUP_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 5.0


@dataclass(eq=False)
class EngineRequest:
    """A request inside the engine; `tokens` receives the number generated so far after each new token."""

    prompt_tokens: int
    max_tokens: int
    tokens: asyncio.Queue[int] = field(default_factory=asyncio.Queue)
    computed: int = 0
    generated: int = 0
    aborted: bool = False


Chunks = list[tuple[EngineRequest, int]]


class EmulatedEngine:
    """Continuous batching on the wall clock (see the module docstring); `run` is its loop."""

    def __init__(self, profile: Profile):
        self.profile = profile
        self._waiting: deque[EngineRequest] = deque()
        self._running: list[EngineRequest] = []
        self._wake = asyncio.Event()

    def submit(self, prompt_tokens: int, max_tokens: int) -> EngineRequest:
        request = EngineRequest(prompt_tokens, max_tokens)
        self._waiting.append(request)
        self._wake.set()
        return request

    async def tokens(self, request: EngineRequest) -> AsyncIterator[int]:
        """Yield the running count of generated tokens as each token is produced.

        A consumer that stops early (its client went away) aborts the request: it leaves the
        batch at the next iteration.
        """
        received = 0
        try:
            while received < request.max_tokens:
                received = await request.tokens.get()
                yield received
        finally:
            request.aborted = received < request.max_tokens

    async def run(self) -> None:
        """The engine loop; runs until cancelled."""
        loop = asyncio.get_running_loop()
        end = loop.time()
        while True:
            step = self._schedule()
            if step is None:
                self._wake.clear()
                await self._wake.wait()
                end = loop.time()
                continue
            chunks, decoding, duration = step
            end += duration
            await asyncio.sleep(end - loop.time())
            self._complete(chunks, decoding)

    def _schedule(self) -> tuple[Chunks, list[EngineRequest], float] | None:
        """The next iteration's prompt chunks, decoding requests and duration; None when idle."""
        profile = self.profile
        self._running = [r for r in self._running if not r.aborted]
        decoding = [r for r in self._running if r.computed == r.prompt_tokens]
        budget = profile.max_num_batched_tokens - len(decoding)
        chunks: Chunks = []
        for r in self._running:
            if r.computed < r.prompt_tokens and budget > 0:
                chunks.append((r, min(r.prompt_tokens - r.computed, budget)))
                budget -= chunks[-1][1]
        while self._waiting and budget > 0 and len(self._running) < profile.max_num_seqs:
            r = self._waiting.popleft()
            if r.aborted:
                continue
            self._running.append(r)
            chunks.append((r, min(r.prompt_tokens, budget)))
            budget -= chunks[-1][1]
        if not chunks and not decoding:
            return None
        prefill = sum(c for _, c in chunks)
        square = sum(c * (2 * r.computed + c) for r, c in chunks)
        context = sum(r.prompt_tokens + r.generated for r in decoding)
        return chunks, decoding, profile.coefficients.iteration_time(prefill, square, len(decoding), context)

    def _complete(self, chunks: Chunks, decoding: list[EngineRequest]) -> None:
        for r in decoding:
            _emit(r)
        for r, chunk in chunks:
            r.computed += chunk
            if r.computed == r.prompt_tokens:
                _emit(r)
        self._running = [r for r in self._running if r.generated < r.max_tokens]


def _emit(request: EngineRequest) -> None:
    request.generated += 1
    request.tokens.put_nowait(request.generated)


# -- HTTP ------------------------------------------------------------------------------------


class _RequestError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class _Completion:
    prompt_tokens: int
    max_tokens: int
    stream: bool
    include_usage: bool
    continuous_usage: bool


def _parse_completion(body: object, model_name: str) -> _Completion:
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
    _boolean(body, "ignore_eos")
    stream = _boolean(body, "stream")
    options = body.get("stream_options")
    if options is not None and not stream:
        raise _RequestError("Stream options can only be defined when `stream=True`.")
    if options is not None and not isinstance(options, dict):
        raise _RequestError("stream_options must be an object")
    include_usage = _boolean(options or {}, "include_usage")
    continuous = include_usage and _boolean(options or {}, "continuous_usage_stats")
    return _Completion(_prompt_tokens(body.get("prompt")), max_tokens, stream, include_usage, continuous)


def _prompt_tokens(prompt: object) -> int:
    if prompt is None:
        raise _RequestError("prompt is required")
    if isinstance(prompt, str):
        count = len(prompt.split())
    elif isinstance(prompt, list) and all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in prompt):
        count = len(prompt)
    else:
        raise _RequestError("prompt must be a string or a list of token ids")
    if count == 0:
        raise _RequestError("prompt must not be empty")
    return count


def _integer(body: dict, key: str, default: int, minimum: int) -> int:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _RequestError(f"{key} must be an integer >= {minimum}, got {value!r}")
    return value


def _boolean(body: dict, key: str) -> bool:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise _RequestError(f"{key} must be a boolean, got {value!r}")
    return bool(value)


def _error(message: str, status: int) -> JSONResponse:
    kind = "NotFoundError" if status == 404 else "BadRequestError"
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": status}}, status_code=status
    )


def _usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def create_app(profile: Profile, model_name: str) -> Starlette:
    """The HTTP server of one emulated engine; the engine loop runs for the app's lifespan."""
    engine = EmulatedEngine(profile)
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
        card = {"id": model_name, "object": "model", "created": started, "owned_by": "hexsim", "root": model_name}
        return JSONResponse({"object": "list", "data": [card]})

    async def completions(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error("the request body is not valid JSON", 400)
        try:
            parsed = _parse_completion(body, model_name)
        except _RequestError as error:
            return _error(str(error), error.status)
        handle = engine.submit(parsed.prompt_tokens, parsed.max_tokens)
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


# -- serving ---------------------------------------------------------------------------------


def _listen(host: str, port: int) -> socket.socket:
    # An explicit IPPROTO_TCP: asyncio disables Nagle's algorithm only on sockets that say so, and with
    # it on, a token written while the previous one is unacknowledged waits for a delayed ACK (~40 ms).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise InputError(f"{host}:{port}", f"cannot listen there: {error.strerror or error}") from None
    return sock


def serve(profile: Profile, model_name: str, host: str, port: int) -> None:
    """Serve an emulated engine until interrupted."""
    sock = _listen(host, port)
    config = uvicorn.Config(create_app(profile, model_name), log_level="info", access_log=False)
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    logging.getLogger("uvicorn.error").info("Emulating %s at %s (Press CTRL+C to quit)", model_name, url)
    uvicorn.Server(config).run(sockets=[sock])


@contextmanager
def emulator_in_thread(profile: Profile, model_name: str, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve an emulated engine on a free port in a background thread; yields its base URL."""
    sock = _listen(host, 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(profile, model_name), log_level="warning", timeout_graceful_shutdown=SHUTDOWN_TIMEOUT_S
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the engine emulator did not start on {host}:{port}")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT_S + 1.0)
        sock.close()

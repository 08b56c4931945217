"""Time an engine's iterations through its OpenAI-compatible API: the rows `fit_measurements` fits.

For every (prompt length, batch size) the sweep sends batches of requests whose prompts are
token-id lists of exactly that length (each starting with a distinct id, so prefix caching
never applies) and streams their tokens; every request generates exactly as many tokens as
it asks for (`min_tokens`, `ignore_eos`).

Prefill row: the time of one iteration that computes the whole batch's prompts. A batch sent
to an idle engine does not give that: the first request to arrive starts an iteration on its
own and the rest follow an iteration later. So batches are chained behind a *primer* (the
sweep's longest prompt, one output token): each batch is sent while the engine computes the
previous one, is admitted whole into the next iteration, and asks for one token, so
consecutive iterations are identical prefills. The chain grows until it spans about a second
(CHAIN_MIN to CHAIN_MAX batches), so a short iteration is timed many times over, and its last
batch goes on to decode. The row is the robust slope (Theil-Sen) of the times at which each
batch's last first token arrives against its place in the chain: the network round trip
cancels, and a late timestamp of the loaded client or server does not pull the result. If
some batch's response headers have not all arrived before the previous batch's tokens, a
request may have missed its iteration and the chain is sent again. Each batch's tokens must
fit the engine's token budget (`max_num_batched_tokens`) and seat limit (`max_num_seqs`):
choose sweeps that do.

Decode row: the robust slope of token arrival times against token count in the middle of
each stream of the last batch, where the whole batch decodes in lock step (the first and last
few tokens are dropped), averaged over the batch. Its context is the prompt length plus the
mean number of tokens already generated in the timed iterations. Token counts come from
vLLM's continuous usage statistics when the server sends them, else one per streamed chunk.
"""

import asyncio
import json
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from itertools import combinations
from statistics import fmean, median
from typing import Any

import httpx

from hexsim.errors import InputError
from hexsim.profiles.measurements import Measurement

MIN_OUTPUT_TOKENS = 8
# Prefill iterations timed per batch: enough to span CHAIN_SPAN_S, within these bounds.
CHAIN_MIN = 4
CHAIN_MAX = 32
CHAIN_SPAN_S = 1.0
ATTEMPTS = 3
FILLER_TOKEN = 1000
# Distinct first tokens 1001..29999: below the vocabulary size of every common model.
FIRST_TOKEN = 1001
DISTINCT_FIRST_TOKENS = 29000
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 120.0

Tokens = list[tuple[int, float]]  # (tokens generated so far, arrival time) per streamed chunk


class _Failure(Exception):
    """The server answered, but not as an OpenAI-compatible completions endpoint should."""


def measure_profile(
    endpoint: str,
    model: str,
    prompt_lengths: Sequence[int],
    batch_sizes: Sequence[int],
    output_tokens: int,
    repeats: int,
    on_batch: Callable[[], None] | None = None,
) -> list[Measurement]:
    """One prefill and one decode row per (repeat, prompt length, batch size); `on_batch` after each.

    Arguments must be positive and `output_tokens` at least MIN_OUTPUT_TOKENS. An unreachable
    endpoint or a failed request raises InputError naming the endpoint.
    """
    sweep = _Sweep(endpoint, model, max(prompt_lengths), output_tokens)
    points = [(p, b) for _ in range(repeats) for p in prompt_lengths for b in batch_sizes]
    try:
        return asyncio.run(sweep.run(points, max(batch_sizes), on_batch or (lambda: None)))
    except Exception as error:
        leaf = error
        while isinstance(leaf, BaseExceptionGroup):
            leaf = leaf.exceptions[0]
        if isinstance(leaf, _Failure):
            raise InputError(endpoint, str(leaf)) from None
        if isinstance(leaf, httpx.ConnectError | httpx.ConnectTimeout):
            raise InputError(endpoint, f"cannot connect ({leaf})") from None
        if isinstance(leaf, httpx.HTTPError):
            raise InputError(endpoint, f"request failed ({type(leaf).__name__}: {leaf or 'no detail'})") from None
        raise


@dataclass
class _Sweep:
    endpoint: str
    model: str
    primer_tokens: int
    output_tokens: int
    prompts_sent: int = 0

    async def run(
        self, points: list[tuple[int, int]], max_batch: int, on_batch: Callable[[], None]
    ) -> list[Measurement]:
        base_url = self.endpoint.rstrip("/").removesuffix("/v1")
        # Two batches and a primer are in flight at once.
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=2 * max_batch + 1)
        timeout = httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
        rows = []
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
            # A first request pays for lazy start-up work (imports, CUDA graphs) outside the sweep.
            await _read(await self._open(client, self.primer_tokens, MIN_OUTPUT_TOKENS), MIN_OUTPUT_TOKENS)
            for prompt_tokens, batch_size in points:
                rows += await self._measure(client, prompt_tokens, batch_size)
                on_batch()
        return rows

    async def _measure(self, client: httpx.AsyncClient, prompt_tokens: int, batch_size: int) -> list[Measurement]:
        for _ in range(ATTEMPTS):
            rows = await self._chain(client, prompt_tokens, batch_size)
            if rows is not None:
                return rows
        raise _Failure(
            f"could not send the {batch_size} requests of a batch within one engine iteration ({ATTEMPTS} attempts); "
            "use smaller batch sizes or longer prompts"
        )

    async def _chain(self, client: httpx.AsyncClient, prompt_tokens: int, batch_size: int) -> list[Measurement] | None:
        """The batch's prefill and decode rows, or None if some batch of the chain missed its iteration."""
        out = self.output_tokens
        ends: list[float] = []
        async with asyncio.TaskGroup() as group:
            previous = [group.create_task(_read(await self._open(client, self.primer_tokens, 1), 1))]
            last = False
            while not last:
                last = _last_in_chain(ends)
                max_tokens = out if last else 1
                responses = await _gather([self._open(client, prompt_tokens, max_tokens) for _ in range(batch_size)])
                sent = time.perf_counter()
                current = [group.create_task(_read(r, max_tokens)) for r in responses]
                arrivals = [(await task)[0][1] for task in previous]
                if sent >= min(arrivals):
                    return None
                ends.append(max(arrivals))
                previous = current
        streams = [task.result() for task in previous]
        ends.append(max(s[0][1] for s in streams))
        prefill = _slope(list(enumerate(ends)))
        return [Measurement("prefill", batch_size, prompt_tokens, 0.0, prefill), _decode(streams, prompt_tokens, out)]

    async def _open(self, client: httpx.AsyncClient, prompt_tokens: int, max_tokens: int) -> httpx.Response:
        """Send a streaming completion request; returns once the response headers have arrived."""
        first = FIRST_TOKEN + self.prompts_sent % DISTINCT_FIRST_TOKENS
        self.prompts_sent += 1
        body = {
            "model": self.model,
            "prompt": [first] + [FILLER_TOKEN] * (prompt_tokens - 1),
            "max_tokens": max_tokens,
            "min_tokens": max_tokens,
            "ignore_eos": True,
            "temperature": 0,
            "stream": True,
            "stream_options": {"include_usage": True, "continuous_usage_stats": True},
        }
        response = await client.send(client.build_request("POST", "/v1/completions", json=body), stream=True)
        if response.status_code != 200:
            await response.aread()
            await response.aclose()
            raise _Failure(f"HTTP {response.status_code} from /v1/completions: {_error_message(response)}")
        return response


async def _gather(coroutines: list[Coroutine[Any, Any, httpx.Response]]) -> list[httpx.Response]:
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(c) for c in coroutines]
    return [t.result() for t in tasks]


async def _read(response: httpx.Response, expected: int) -> Tokens:
    """Stream the tokens of one response to its end, timing each chunk as it arrives."""
    tokens: Tokens = []
    count = 0
    try:
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line.removeprefix("data:").strip()
            if data == "[DONE]":
                break
            arrived = time.perf_counter()
            try:
                chunk = json.loads(data)
            except json.JSONDecodeError:
                raise _Failure(f"malformed stream chunk {data[:80]!r}") from None
            if not isinstance(chunk, dict) or "error" in chunk:
                raise _Failure(f"error in the stream: {data[:200]}")
            if not chunk.get("choices"):
                continue
            usage = chunk.get("usage")
            count = usage["completion_tokens"] if isinstance(usage, dict) else count + 1
            tokens.append((count, arrived))
    finally:
        await response.aclose()
    if count != expected:
        raise _Failure(f"a request for {expected} tokens streamed {count} (are min_tokens and ignore_eos supported?)")
    return tokens


def _last_in_chain(ends: list[float]) -> bool:
    """Whether the batch about to be sent should be the last of its chain.

    `ends` holds the times at which the primer and the batches before the one in flight
    finished; with the next batch the chain counts `len(ends) + 1` batches.
    """
    batches = len(ends) + 1
    if batches < CHAIN_MIN:
        return False
    per_iteration = (ends[-1] - ends[0]) / (len(ends) - 1)
    return batches >= CHAIN_MAX or batches * per_iteration >= CHAIN_SPAN_S


def _decode(streams: list[Tokens], prompt_tokens: int, out: int) -> Measurement:
    skip = max(2, out // 8)
    first, last = 1 + skip, out - skip
    intervals, contexts = [], []
    for tokens in streams:
        window = [(n, t) for n, t in tokens if first <= n <= last]
        if len(window) < 2:
            raise _Failure("the server streamed too few chunks to time single decode iterations")
        intervals.append(_slope(window))
        # The iteration producing token n attends to the prompt and the n - 1 tokens before it.
        contexts.append(prompt_tokens + (window[0][0] + window[-1][0] - 1) / 2)
    return Measurement("decode", len(streams), prompt_tokens, fmean(contexts), fmean(intervals))


def _slope(points: list[tuple[int, float]]) -> float:
    """Theil-Sen: the median of the pairwise slopes, robust to a few late timestamps."""
    return median((y1 - y0) / (x1 - x0) for (x0, y0), (x1, y1) in combinations(points, 2))


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        # OpenAI's {"error": {"message": ...}}, or older vLLM's {"object": "error", "message": ...}
        error = body.get("error") if isinstance(body.get("error"), dict) else body
        if error.get("message"):
            return str(error["message"])
    text = response.text.strip()
    return text.splitlines()[0][:200] if text else response.reason_phrase

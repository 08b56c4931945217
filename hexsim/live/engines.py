"""The engines behind the gateway: one pooled HTTP client each, and what each last reported.

The gateway counts its own calls in flight to each engine as it sends them and sees them end;
an engine's `/metrics`, scraped every few hundred milliseconds, adds what the gateway cannot
see: requests someone else sent it. An engine whose metrics are older than the staleness
limit (or that never answered) counts as saturated: the scheduler gives it no more calls.

The client is aiohttp's: at 200 calls/s it adds a third of httpx's latency to a call
(benchmarks/bench_gateway.py).
"""

import asyncio
import math
from dataclasses import dataclass

import aiohttp

from hexsim.live.engine_metrics import EngineLoad, MetricsError, read_engine_load

HTTP_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)
UNREACHABLE = (aiohttp.ClientConnectionError, asyncio.TimeoutError)
SCRAPE_ERRORS = (*HTTP_ERRORS, MetricsError, UnicodeDecodeError)


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0  # seconds to open a connection to an engine
    read: float = 900.0  # seconds an engine may stay silent mid-answer (a long prefill, a non-streamed call)
    scrape: float = 1.0  # seconds for one /metrics answer


@dataclass(eq=False)
class Engine:
    index: int
    name: str
    url: str
    model: str
    timeouts: Timeouts
    session: aiohttp.ClientSession | None = None
    in_flight: int = 0  # calls the gateway sent and has not seen end
    peak: int = 0  # the most in flight since the scrape under way began
    load: EngineLoad | None = None
    scraped: float = -math.inf  # monotonic time of the last good scrape
    error: str | None = "not scraped yet"
    room: bool = False  # saturated until a first good scrape
    up: bool = True  # taken out after failing `trip_after` times in a row, back when it answers
    failures: int = 0  # calls and scrapes failed in a row
    dispatches: int = 0  # calls sent
    retried: int = 0  # calls that failed here before answering and were placed again

    def open(self) -> None:
        """Start the engine's connection pool (in the event loop that will use it)."""
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60.0)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeouts.connect, sock_read=self.timeouts.read)
        self.session = aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def post(self, path: str, content: bytes, headers: dict[str, str]) -> aiohttp.ClientResponse:
        """Send a call; the answer's body is for the caller to read, then release."""
        return await self.session.post(self.url + path, data=content, headers=headers)

    async def get_json(self, path: str, timeout: float) -> object:
        async with self.session.get(self.url + path, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            response.raise_for_status()
            return await response.json(content_type=None)

    def sent(self) -> None:
        self.in_flight += 1
        self.dispatches += 1
        self.peak = max(self.peak, self.in_flight)

    def answered(self) -> None:
        self.failures = 0

    def ended(self) -> None:
        self.in_flight -= 1

    def foreign(self, load: EngineLoad) -> int:
        """Requests the engine held that the gateway did not send it, by the scrape just answered.

        The engine counted at some moment during the scrape, when the gateway had at most `peak`
        calls there (a call the gateway sent may not have arrived yet; one the engine finished,
        not yet ended at the gateway): anything beyond that came from elsewhere.
        """
        return max(0, load.running + load.waiting - self.peak)

    async def scrape(self) -> EngineLoad:
        """The engine's /metrics (one of SCRAPE_ERRORS if it cannot be had)."""
        self.peak = self.in_flight
        timeout = aiohttp.ClientTimeout(total=self.timeouts.scrape)
        async with self.session.get(self.url + "/metrics", timeout=timeout) as response:
            response.raise_for_status()
            return read_engine_load(await response.text())

"""What the gateway's tests share: a fake engine they control, and a gateway on free ports."""

import asyncio
import io
import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hexsim.cluster import ClusterSpec, load_cluster
from hexsim.live.gateway import Gateway, GatewaySettings
from hexsim.live.gateway_app import create_gateway_app
from hexsim.live.server import app_in_thread
from hexsim.resources import default_cluster
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.log import DecisionLog
from hexsim.scheduler.template import default_template

PAPER = load_cluster(default_cluster())
MODEL = PAPER.model
METRICS = """# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{engine="0",model_name="{model}"}} {running}
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{{engine="0",model_name="{model}"}} {waiting}
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{{engine="0",model_name="{model}"}} 0.5
"""


class FakeEngine:
    """A vLLM stand-in: records every body, reports the load it is told to, answers with `chunks`
    (`gap` seconds apart when streamed), and sets `gone` when a client leaves a stream."""

    def __init__(
        self,
        chunks: tuple[bytes, ...] = (b'data: {"n": 1}\n\n', b"data: [DONE]\n\n"),
        gap: float = 0.0,
        delay: float = 0.0,
        break_after: int | None = None,
    ):
        self.chunks = chunks
        self.gap = gap
        self.break_after = break_after  # stream chunks sent before the engine breaks off
        self.delay = delay  # seconds before a non-streamed answer
        self.bodies: list[bytes] = []
        self.running = 0  # requests from elsewhere, beside the ones it is answering
        self.waiting = 0
        self.answering = 0
        self.metrics_up = True
        self.status = 200
        self.gone = threading.Event()

    def app(self) -> Starlette:
        async def metrics(_: Request) -> Response:
            if not self.metrics_up:
                return PlainTextResponse("down", status_code=500)
            running = self.running + self.answering  # as vLLM counts every request it holds
            return PlainTextResponse(METRICS.format(model=MODEL, running=running, waiting=self.waiting))

        async def models(_: Request) -> Response:
            return JSONResponse({"object": "list", "data": [{"id": MODEL, "object": "model"}]})

        async def completions(request: Request) -> Response:
            raw = await request.body()
            self.bodies.append(raw)
            if self.status != 200:
                return JSONResponse({"error": {"message": "refused", "code": self.status}}, status_code=self.status)
            if not json.loads(raw).get("stream"):
                self.answering += 1
                try:
                    await asyncio.sleep(self.delay)
                finally:
                    self.answering -= 1
                return Response(b"".join(self.chunks), media_type="application/json")
            return _Stream(self)

        routes = [
            Route("/metrics", metrics),
            Route("/v1/models", models),
            Route("/v1/completions", completions, methods=["POST"]),
            Route("/v1/chat/completions", completions, methods=["POST"]),
        ]
        return Starlette(routes=routes)


class _Stream:
    def __init__(self, engine: FakeEngine):
        self.engine = engine

    async def __call__(self, scope, receive, send) -> None:
        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            self.engine.gone.set()

        watcher = asyncio.ensure_future(watch())
        try:
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]}
            )
            for sent, chunk in enumerate(self.engine.chunks):
                if sent == self.engine.break_after:
                    raise ConnectionResetError("the engine broke off")
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await asyncio.sleep(self.engine.gap)
            await send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()


def cluster_at(urls: list[str], cluster: ClusterSpec = PAPER) -> ClusterSpec:
    """The cluster's first len(urls) instances, with those engine URLs."""
    instances = tuple(replace(inst, url=url) for inst, url in zip(cluster.instances, urls, strict=False))
    return ClusterSpec(cluster.model, instances)


@contextmanager
def gateway_at(
    urls: list[str],
    policy: str = "hexgen",
    log: io.StringIO | None = None,
    max_running: int = 0,
    api_key: str | None = None,
    **settings,
) -> Iterator[tuple[str, Gateway]]:
    """A gateway in front of the engines at `urls` (the paper cluster's profiles, in order)."""
    cluster = cluster_at(urls)
    settings = {"slo": 100.0, "scrape_interval": 0.05, "stale_after": 0.3} | settings
    decision_log = DecisionLog(log, [inst.name for inst in cluster.instances]) if log is not None else None
    config = SchedulerConfig(policy=policy, max_running=max_running)
    gateway = Gateway(cluster, config, default_template(), GatewaySettings(**settings), decision_log)
    with app_in_thread(create_gateway_app(gateway, api_key=api_key)) as url:
        yield url, gateway


@contextmanager
def fake_engines(*engines: FakeEngine) -> Iterator[list[str]]:
    with ExitStack() as stack:
        yield [stack.enter_context(app_in_thread(engine.app())) for engine in engines]


def workflow(query: str, step: str, stage: int, slo: float | None = None) -> dict[str, str]:
    headers = {"X-Hexsim-Query": query, "X-Hexsim-Step": step, "X-Hexsim-Stage": str(stage)}
    return headers | ({"X-Hexsim-SLO": str(slo)} if slo is not None else {})

"""Gateway overhead: what `hexsim serve` adds to a call, with httpx or aiohttp as its engine client.

    python benchmarks/bench_gateway.py [--rate 200] [--calls 2000] [--stream] [--rounds 2]

An engine emulator that answers at once (its iterations take a microsecond) runs in one
process, the gateway (round-robin policy, one engine) in another; this process sends calls at
`--rate` calls/s, open loop (Poisson), a second's worth straight to the engine, the next
through the gateway, and so on, so both kinds see the machine alike (on two shared cores a
direct run's p99 moved by 2.3-3.8 ms from one run to the next: measured run after run, the
difference held that noise as much as the gateway's cost). The gateway's overhead is the
difference of the latency percentiles, over `--rounds` rounds per client. The gateway's
engine client is aiohttp's; for the comparison, httpx stands in for it through a shim of the
few calls the gateway makes (post, read, stream, release), so the gateway's code is the same
in both runs.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from hexsim.cluster import ClusterSpec, InstanceSpec
from hexsim.live.server import listen
from hexsim.profiles.latency import IterationCoefficients, Profile

MODEL = "bench-model"
INSTANT = Profile(
    model=MODEL,
    gpu="A100-80GB",
    tp=1,
    coefficients=IterationCoefficients(base=1e-6, prefill_token=0, prefill_token_sq=0, decode_seq=0, context_token=0),
    kv_capacity_tokens=10_000_000,
    max_num_seqs=1024,
    max_num_batched_tokens=1_000_000,
)
BODY = {"model": MODEL, "prompt": list(range(1000, 1512)), "max_tokens": 8, "ignore_eos": True}


def serve_engine(port: int) -> None:
    from hexsim.live.emulator import serve

    serve(INSTANT, MODEL, "127.0.0.1", port)


def serve_gateway(port: int, engine_port: int, client: str) -> None:
    import uvicorn

    from hexsim.live.gateway import Gateway, GatewaySettings
    from hexsim.live.gateway_app import create_gateway_app
    from hexsim.live.server import server_config
    from hexsim.scheduler.config import SchedulerConfig
    from hexsim.scheduler.template import default_template

    if client == "httpx":
        _use_httpx()
    cluster = ClusterSpec(MODEL, (InstanceSpec("engine", INSTANT, f"http://127.0.0.1:{engine_port}"),))
    gateway = Gateway(cluster, SchedulerConfig(policy="vllm"), default_template(), GatewaySettings(slo=60.0))
    config = server_config(create_gateway_app(gateway), "warning")
    uvicorn.Server(config).run(sockets=[listen("127.0.0.1", port)])


class _HttpxAnswer:
    """An httpx streamed response, as far as the gateway reads an aiohttp one."""

    def __init__(self, response: httpx.Response):
        self._response = response
        self.status = response.status_code
        self.raw_headers = response.headers.raw
        self.content = self

    def iter_any(self):
        return self._response.aiter_raw()

    async def read(self) -> bytes:
        return await self._response.aread()

    def release(self) -> None:
        asyncio.ensure_future(self._response.aclose())


def _use_httpx() -> None:
    """Give the gateway's engines an httpx client in place of aiohttp's, the rest unchanged."""
    from hexsim.live.engine_metrics import read_engine_load
    from hexsim.live.engines import Engine

    def open_pool(engine: Engine) -> None:
        timeout = httpx.Timeout(engine.timeouts.read, connect=engine.timeouts.connect, pool=None)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=512, keepalive_expiry=60.0)
        engine.session = httpx.AsyncClient(base_url=engine.url, timeout=timeout, limits=limits, trust_env=False)

    async def post(engine: Engine, path: str, content: bytes, headers: dict) -> _HttpxAnswer:
        request = engine.session.build_request("POST", path, content=content, headers=headers)
        return _HttpxAnswer(await engine.session.send(request, stream=True))

    async def scrape(engine: Engine):
        engine.peak = engine.in_flight
        response = await engine.session.get("/metrics", timeout=engine.timeouts.scrape)
        return read_engine_load(response.text)

    async def close(engine: Engine) -> None:
        await engine.session.aclose()

    Engine.open, Engine.post, Engine.scrape, Engine.close = open_pool, post, scrape, close


def start(args: list[str]) -> subprocess.Popen:
    env = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen([sys.executable, __file__, *args], env=env, stderr=subprocess.DEVNULL)


def wait_ready(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not start")
        time.sleep(0.1)


async def load(urls: list[str], rate: float, calls: int, stream: bool, seed: int) -> list[np.ndarray]:
    """Latencies (seconds) of `calls` calls to each of `urls`, sent at Poisson times of `rate` per
    second, a second's worth (`rate` calls) to each url in turn."""
    import aiohttp

    block = max(1, round(rate))
    turn = np.arange(calls * len(urls)) // block % len(urls)
    gaps = np.random.default_rng(seed).exponential(1.0 / rate, size=len(turn))
    body = json.dumps(BODY | {"stream": stream}).encode()
    latencies = np.zeros(len(gaps))
    headers = {"content-type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(i: int) -> None:
            url = urls[turn[i]]
            began = time.perf_counter()
            async with session.post(f"{url}/v1/completions", data=body, headers=headers) as response:
                await response.read()
                assert response.status == 200, response.status
            latencies[i] = time.perf_counter() - began

        tasks = []
        t = time.perf_counter()
        for i, gap in enumerate(gaps):
            t += gap
            await asyncio.sleep(max(0.0, t - time.perf_counter()))
            tasks.append(asyncio.ensure_future(one(i)))
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    return [latencies[turn == k] for k in range(len(urls))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="calls per second (default 200)")
    parser.add_argument("--calls", type=int, default=2000, help="calls per measurement (default 2000)")
    parser.add_argument("--stream", action="store_true", help="stream the answers (default: not streamed)")
    parser.add_argument("--rounds", type=int, default=2, help="direct / gateway alternations per client (default 2)")
    parser.add_argument("--role", choices=["engine", "gateway"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--engine-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--client", default="httpx", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "engine":
        return serve_engine(args.port)
    if args.role == "gateway":
        return serve_gateway(args.port, args.engine_port, args.client)

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    engine_port, gateway_port = 18431, 18432
    engine = start(["--role", "engine", "--port", str(engine_port)])
    engine_url, gateway_url = f"http://127.0.0.1:{engine_port}", f"http://127.0.0.1:{gateway_port}"
    table = Table(title=f"{args.calls} calls at {args.rate:g}/s, {'streamed' if args.stream else 'not streamed'} (ms)")
    for column in (
        "client",
        "round",
        "direct p50",
        "direct p99",
        "gateway p50",
        "gateway p99",
        "added p50",
        "added p99",
    ):
        table.add_column(column, justify="right")
    try:
        wait_ready(engine_url, engine)
        for client in ("aiohttp", "httpx"):
            gateway = start(
                [
                    "--role",
                    "gateway",
                    "--port",
                    str(gateway_port),
                    "--engine-port",
                    str(engine_port),
                    "--client",
                    client,
                ]
            )
            try:
                wait_ready(gateway_url, gateway)
                asyncio.run(load([gateway_url], args.rate, 200, args.stream, 99))  # warm up
                for k in range(args.rounds):
                    urls = [engine_url, gateway_url]
                    direct, through = (x * 1e3 for x in asyncio.run(load(urls, args.rate, args.calls, args.stream, k)))
                    d50, d99, g50, g99 = (np.percentile(x, p) for x in (direct, through) for p in (50, 99))
                    table.add_row(client, str(k + 1), *(f"{v:.2f}" for v in (d50, d99, g50, g99, g50 - d50, g99 - d99)))
            finally:
                gateway.terminate()
                gateway.wait(10)
    finally:
        engine.terminate()
        engine.wait(10)
    Console().print(table)


if __name__ == "__main__":
    main()

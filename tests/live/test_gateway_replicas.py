"""Two gateway replicas over the same engines, behind a proxy that hashes X-Hexsim-Query (a
test double of it, and nginx running the README's example where nginx is installed): a replay
completes, and every query's calls meet one replica."""

import io
import json
import os
import pwd
import shutil
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from hexsim.cluster import ClusterSpec, InstanceSpec
from hexsim.live.emulator import emulator_in_thread
from hexsim.live.gateway import Gateway, GatewaySettings
from hexsim.live.gateway_app import create_gateway_app
from hexsim.live.server import app_in_thread
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.log import DecisionLog
from hexsim.scheduler.template import default_template
from tests.live.processes import free_ports, running, wait_healthy
from tests.live.test_replayer import MODEL, PROFILE, SCALE, run, workflow


def hashing_proxy(replicas: list[str]) -> Starlette:
    """Send each request to the replica its query id hashes to (nginx's `hash $http_x_hexsim_query`)."""
    clients = [httpx.AsyncClient(base_url=url, timeout=None) for url in replicas]

    async def forward(request: Request) -> Response:
        query = request.headers.get("x-hexsim-query") or request.path_params.get("query", "")
        client = clients[zlib.crc32(query.encode()) % len(clients)]
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        upstream = await client.send(
            client.build_request(request.method, request.url.path, content=await request.body(), headers=headers),
            stream=True,
        )
        return StreamingResponse(upstream.aiter_raw(), upstream.status_code)

    return Starlette(
        routes=[
            Route("/v1/completions", forward, methods=["POST"]),
            Route("/v1/queries/{query:path}/finish", forward, methods=["POST"]),
        ]
    )


@contextmanager
def two_replicas() -> Iterator[tuple[list[str], list[io.StringIO], list[Gateway]]]:
    """Two gateway replicas over the same two emulated engines: their URLs, decision logs and gateways."""
    with ExitStack() as stack:
        engines = [stack.enter_context(emulator_in_thread(PROFILE, MODEL, time_scale=SCALE)) for _ in range(2)]
        cluster = ClusterSpec(MODEL, tuple(InstanceSpec(f"e{k}", PROFILE, url) for k, url in enumerate(engines)))
        logs, replicas, gateways = [], [], []
        for _ in range(2):
            log = io.StringIO()
            gateway = Gateway(
                cluster,
                SchedulerConfig(policy="lor"),
                default_template(),
                GatewaySettings(slo=1000.0, time_scale=SCALE, scrape_interval=0.05, stale_after=0.5),
                DecisionLog(log, [inst.name for inst in cluster.instances]),
            )
            replicas.append(stack.enter_context(app_in_thread(create_gateway_app(gateway))))
            logs.append(log)
            gateways.append(gateway)
        yield replicas, logs, gateways


def check_each_query_met_one_replica(queries, records, logs, gateways) -> None:
    assert all(q.finished is not None for q in records.queries)
    seen = [
        {json.loads(line)["query"] for line in log.getvalue().splitlines() if '"stage_ready"' in line} for log in logs
    ]
    assert seen[0] | seen[1] == {q.id for q in queries}
    assert not seen[0] & seen[1]  # every query's calls met one replica
    assert seen[0] and seen[1]  # and the hash spread the queries over both
    assert all(not g.queries for g in gateways)  # each replica closed its queries on /finish


def test_two_replicas_behind_a_query_hashing_proxy_serve_a_replay_each_query_on_one():
    queries = workflow(12, 0.5)
    with two_replicas() as (replicas, logs, gateways), app_in_thread(hashing_proxy(replicas)) as proxy:
        records = run(queries, [proxy]).records
    check_each_query_met_one_replica(queries, records, logs, gateways)


def readme_nginx_config(replicas: list[str], port: int, folder: Path) -> str:
    """The README's nginx example, its two gateway addresses and its port replaced by the test's,
    in a main configuration that keeps nginx's files in `folder`."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = readme.split("```nginx\n", 1)[1].split("```", 1)[0]
    for placeholder, url in zip(("10.0.0.10:8000", "10.0.0.11:8000"), replicas, strict=True):
        assert placeholder in example
        example = example.replace(placeholder, url.removeprefix("http://"))
    assert "listen 8000;" in example
    example = example.replace("listen 8000;", f"listen 127.0.0.1:{port};")
    return (
        f"daemon off;\nworker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        f"user {pwd.getpwuid(os.geteuid()).pw_name};\nevents {{ worker_connections 256; }}\n"
        f"http {{\naccess_log off;\nclient_body_temp_path {folder}/body;\nproxy_temp_path {folder}/proxy;\n"
        f"{example}}}\n"
    )


@pytest.mark.skipif(shutil.which("nginx") is None, reason="needs nginx (CI installs it)")
def test_the_readmes_nginx_example_keeps_each_query_on_one_replica(tmp_path):
    queries = workflow(12, 0.5)
    (port,) = free_ports(1)
    with two_replicas() as (replicas, logs, gateways):
        config = tmp_path / "nginx.conf"
        config.write_text(readme_nginx_config(replicas, port, tmp_path))
        command = ["nginx", "-p", str(tmp_path), "-c", str(config), "-e", str(tmp_path / "error.log")]
        with running(command) as nginx:
            proxy = f"http://127.0.0.1:{port}"
            wait_healthy(proxy, nginx)
            records = run(queries, [proxy]).records
    check_each_query_met_one_replica(queries, records, logs, gateways)

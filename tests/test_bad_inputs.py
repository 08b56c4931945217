"""The bad-input corpus (tests/bad_inputs/*.toml): every case gets a clean, one-line answer."""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from hexsim.cluster import ClusterSpec, InstanceSpec
from hexsim.live.emulator import emulator_in_thread
from hexsim.live.emulator_app import Limits
from hexsim.live.gateway import Gateway, GatewaySettings
from hexsim.live.gateway_app import create_gateway_app
from hexsim.live.server import app_in_thread
from hexsim.profiles.latency import IterationCoefficients, Profile
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.template import default_template

CORPUS = Path(__file__).with_name("bad_inputs")
CASES = {path.stem: tomllib.loads(path.read_text()) for path in sorted(CORPUS.glob("*.toml"))}
CLI = [(f"{stem}: {case['name']}", case) for stem, doc in CASES.items() for case in doc.get("cli", [])]
HTTP = [(f"{stem}: {case['name']}", case) for stem, doc in CASES.items() for case in doc.get("http", [])]
GATEWAY = [(f"{stem}: {case['name']}", case) for stem, doc in CASES.items() for case in doc.get("gateway", [])]
MODEL = "corpus-model"
# Llama 3's vocabulary, so token ids from 128,256 up are out of range; a 4,096-token context.
PROFILE = Profile(
    model=MODEL,
    gpu="A100-80GB",
    tp=1,
    coefficients=IterationCoefficients(
        base=0.002, prefill_token=1e-6, prefill_token_sq=0, decode_seq=0, context_token=0
    ),
    kv_capacity_tokens=4096,
    max_num_seqs=4,
    max_num_batched_tokens=1024,
)


def test_the_corpus_is_large_and_every_case_is_named_once():
    names = [name for name, _ in CLI + HTTP + GATEWAY]
    assert len(names) >= 100, len(names)
    assert len(set(names)) == len(names)


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("case", [case for _, case in CLI], ids=[name for name, _ in CLI])
def test_a_bad_command_line_gets_one_line_and_status_2(case, tmp_path):
    for name, text in case.get("files", {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    for name, data in case.get("binary", {}).items():
        (tmp_path / name).write_bytes(bytes.fromhex(data))
    for name in case.get("folders", []):
        (tmp_path / name).mkdir(parents=True, exist_ok=True)
    before = listing(tmp_path)
    args = [a.replace("{tmp}", str(tmp_path)) for a in case["args"]]
    # `block`: modules to hide, as if their extra were not installed.
    hide = f"import sys; sys.modules.update(dict.fromkeys({case.get('block', [])!r}))"
    result = subprocess.run(
        [sys.executable, "-c", f"{hide}; from hexsim.cli import main; sys.exit(main(sys.argv[1:]))", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=case.get("timeout", 20),
    )
    lines = result.stderr.splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert len(lines) == 1 and lines[0].startswith("hexsim: error: "), result.stderr
    for needle in case["error"]:
        assert needle.replace("{tmp}", str(tmp_path)) in lines[0], (needle, lines[0])
    assert result.stdout == ""
    assert listing(tmp_path) == before, "the command left files behind"


@pytest.fixture(scope="module")
def url():
    with emulator_in_thread(PROFILE, MODEL, scheduling="priority", limits=Limits(4096, 128256)) as base_url:
        yield base_url


def good_request(client: httpx.Client) -> None:
    response = client.post("/v1/completions", json={"model": MODEL, "prompt": [1, 2, 3], "max_tokens": 2})
    assert response.status_code == 200, response.text
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize("case", [case for _, case in HTTP], ids=[name for name, _ in HTTP])
def test_a_bad_request_gets_an_openai_error_and_the_engine_keeps_serving(case, url):
    with httpx.Client(base_url=url, timeout=10) as client:
        response = client.request(
            case.get("method", "POST"),
            case.get("path", "/v1/completions"),
            content=case["body"].encode(),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == case["status"], response.text
        error = json.loads(response.text)["error"]
        assert error["code"] == case["status"] and error["type"]
        for needle in case["error"]:
            assert needle in error["message"], (needle, error["message"])
        good_request(client)


API_KEY = "corpus-key"


@pytest.fixture(scope="module")
def gateway_urls(url):
    """The corpus's gateway, open and with an API key."""
    cluster = ClusterSpec(MODEL, (InstanceSpec("corpus", PROFILE, url),))
    settings = GatewaySettings(slo=60.0, scrape_interval=0.05)
    gateways = [Gateway(cluster, SchedulerConfig(policy="hexgen"), default_template(), settings) for _ in range(2)]
    with (
        app_in_thread(create_gateway_app(gateways[0])) as open_url,
        app_in_thread(create_gateway_app(gateways[1], api_key=API_KEY)) as keyed_url,
    ):
        yield {False: open_url, True: keyed_url}


@pytest.mark.parametrize("case", [case for _, case in GATEWAY], ids=[name for name, _ in GATEWAY])
def test_a_bad_request_gets_an_openai_error_from_the_gateway_and_it_keeps_serving(case, gateway_urls):
    if "prompt_ids" in case:
        body = json.dumps({"model": MODEL, "prompt": [1] * case["prompt_ids"], "max_tokens": 4}).encode()
    else:
        body = b"x" * case["body_bytes"] if "body_bytes" in case else case["body"].encode()
    keyed = "api_key" in case
    gateway_url = gateway_urls[keyed]
    client_headers = {"authorization": f"Bearer {API_KEY}"} if keyed else {}
    with httpx.Client(base_url=gateway_url, timeout=10, headers=client_headers) as client:
        headers = {"content-type": "application/json"} | case.get("headers", {})
        if keyed:
            headers["authorization"] = case["api_key"]
        response = client.request(
            case.get("method", "POST"), case.get("path", "/v1/completions"), content=body, headers=headers
        )
        assert response.status_code == case["status"], response.text
        error = json.loads(response.text)["error"]
        assert error["code"] == case["status"] and error["type"]
        for needle in case["error"]:
            assert needle in error["message"], (needle, error["message"])
        good_request(client)

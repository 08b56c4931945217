"""The `openai` Python package works through the gateway unchanged, workflow headers and all."""

import io
import json

import pytest

from hexsim.live.emulator import emulator_in_thread
from tests.live.gateway_helpers import MODEL, PAPER, gateway_at, workflow

openai = pytest.importorskip("openai")


@pytest.fixture(scope="module")
def served():
    log = io.StringIO()
    profile = PAPER.instances[0].profile
    with emulator_in_thread(profile, MODEL, scheduling="priority", time_scale=100.0) as engine:
        with gateway_at([engine], "hexgen", log, time_scale=100.0) as (url, gateway):
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=30)
            yield client, log, gateway


def test_completions_plain_and_streamed(served):
    client, _, _ = served
    done = client.completions.create(model=MODEL, prompt=[11, 12, 13], max_tokens=5, extra_body={"ignore_eos": True})
    assert done.choices[0].text == " token" * 5 and done.usage.completion_tokens == 5
    stream = client.completions.create(
        model=MODEL, prompt="a few words", max_tokens=4, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == " token" * 4
    assert chunks[-1].usage.completion_tokens == 4


def test_chat_completions_plain_and_streamed(served):
    client, _, _ = served
    messages = [{"role": "user", "content": "name three tables"}]
    done = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=3)
    assert done.choices[0].message.role == "assistant" and done.choices[0].message.content == " token" * 3
    stream = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=3, stream=True)
    deltas = [c.choices[0].delta for c in stream if c.choices]
    assert deltas[0].role == "assistant" and "".join(d.content or "" for d in deltas) == " token" * 3


def test_extra_headers_carry_a_workflow_to_the_scheduler(served):
    client, log, gateway = served
    ask = {"model": MODEL, "prompt": [1] * 200, "max_tokens": 2}
    client.completions.create(**ask, extra_headers=workflow("sql-1", "Information Retriever", 0, slo=90.0))
    client.completions.create(**ask, extra_headers=workflow("sql-1", "revise", 1))
    assert "sql-1" in gateway.queries
    client.post("/queries/sql-1/finish", cast_to=object)
    assert "sql-1" not in gateway.queries
    entries = [json.loads(line) for line in log.getvalue().splitlines()]
    ours = [e for e in entries if e.get("query") == "sql-1"]
    assert [e["slo"] for e in ours if e.get("event") == "query_arrived"] == [90.0]
    assert [(e["stage"], e["step"]) for e in ours if e.get("event") == "stage_ready"] == [
        (0, "Information Retriever"),
        (1, "revise"),
    ]
    assert ours[-1]["event"] == "query_finished"


def test_an_error_reaches_the_client_as_openais_exception(served):
    client, _, _ = served
    with pytest.raises(openai.NotFoundError) as caught:
        client.completions.create(model="nobody", prompt="x", max_tokens=1)
    assert caught.value.status_code == 404 and "nobody" in str(caught.value)

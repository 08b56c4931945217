"""One engine model, two clocks: the emulator on the wall clock does what the simulator does on its own."""

import asyncio

import pytest
import simpy

from hexsim.live.emulated_engine import EmulatedEngine
from hexsim.profiles.latency import IterationCoefficients, Profile
from hexsim.sim.engine import SimEngine
from hexsim.workload.model import Segment

# 1,024 KV tokens, four seats: the three first calls outgrow the cache as they decode, so the
# least urgent running call (highest priority value) is preempted, twice over the run.
PROFILE = Profile(
    model="two-clocks",
    gpu="A100-80GB",
    tp=1,
    coefficients=IterationCoefficients(
        base=0.010, prefill_token=2e-5, prefill_token_sq=0.0, decode_seq=0.001, context_token=1e-6
    ),
    kv_capacity_tokens=1024,
    block_size=16,
    max_num_seqs=4,
    max_num_batched_tokens=512,
)
# (name, arrival s, prompt tokens, output tokens, priority)
CALLS = [
    ("a", 0.0, 300, 200, 5),
    ("b", 0.0, 200, 250, 1),
    ("c", 0.0, 100, 300, 3),
    ("d", 0.6, 250, 100, 0),
    ("e", 0.6, 60, 150, 2),
    ("f", 1.5, 400, 50, 4),
]
TIME_SCALE = 2.0  # the emulator runs twice as fast as the profile says
# Shared prompt segments: an instruction (eight blocks) and two schemas that end mid-block.
SEGMENTS = {"instructions": 128, "schema-1": 70, "schema-2": 45}
# (name, arrival s, own prompt tokens, output tokens, priority, segments)
SHARED_CALLS = [
    ("a", 0.0, 100, 200, 5, ("instructions",)),
    ("b", 0.3, 60, 250, 1, ("instructions", "schema-1")),
    ("c", 0.3, 20, 150, 3, ("instructions", "schema-1")),
    ("d", 0.9, 80, 100, 0, ("instructions", "schema-2")),
    ("e", 1.2, 30, 120, 2, ("instructions", "schema-1")),
    ("f", 1.5, 40, 60, 4, ("schema-2",)),
]


def prompt_ids(name: str, own: int, segments: tuple[str, ...]) -> list[int]:
    """Token ids: each segment's the same wherever it appears, each call's own part its own."""
    ids = []
    for key in segments:
        first = 1000 * (list(SEGMENTS).index(key) + 1)
        ids += [first + i for i in range(SEGMENTS[key])]
    return ids + [100_000 + 1000 * ord(name) + i for i in range(own)]


def shared_call(name, at, own, output, priority, segments):
    """A call of SHARED_CALLS as (name, arrival, prompt tokens, output, priority, segments, token ids)."""
    prefix = tuple(Segment(key, SEGMENTS[key]) for key in segments)
    ids = prompt_ids(name, own, segments)
    return name, at, len(ids), output, priority, prefix, ids


def simulated(calls=CALLS) -> list[tuple[float, str, str]]:
    env = simpy.Environment()
    events: list = []
    def ignore(request):
        pass

    engine = SimEngine(env, 0, PROFILE, "priority", ignore, ignore, ignore, events=events)

    def arrive(name, at, prompt, output, priority, prefix=(), ids=()):
        yield env.timeout(at)
        engine.submit(name, prompt, output, priority, prefix)

    for call in calls:
        env.process(arrive(*call))
    env.run()
    return events


async def emulated(calls=CALLS) -> list[tuple[float, str, str]]:
    events: list = []
    engine = EmulatedEngine(PROFILE, "priority", TIME_SCALE, events=events)
    names = {}
    loop = asyncio.get_running_loop()
    runner = asyncio.create_task(engine.run())

    async def arrive(name, at, prompt, output, priority, prefix=(), ids=()):
        await asyncio.sleep(start + at / TIME_SCALE - loop.time())
        handle = engine.submit(prompt, output, priority, prompt=ids)
        names[id(handle)] = name
        async for _ in engine.tokens(handle):
            pass

    start = loop.time()
    try:
        await asyncio.wait_for(asyncio.gather(*(arrive(*call) for call in calls)), timeout=30)
    finally:
        runner.cancel()
    return [((t - start) * TIME_SCALE, kind, names[id(handle)]) for t, kind, handle in events]


def test_the_emulator_admits_preempts_and_finishes_like_the_simulator():
    sim = simulated()
    emu = asyncio.run(emulated())
    assert sum(kind == "preempt" for _, kind, _ in sim) == 3
    assert [(kind, name) for _, kind, name in emu] == [(kind, name) for _, kind, name in sim]
    finished = {name: t for t, kind, name in sim if kind == "finish"}
    for t, kind, name in emu:
        if kind == "finish":
            assert t == pytest.approx(finished[name], rel=0.05), name


def test_with_shared_prefixes_the_emulator_hits_its_cache_where_the_simulator_does():
    # The simulator knows the calls' segments; the emulator sees only token ids and finds the
    # shared blocks by their content, as vLLM does.
    calls = [shared_call(*call) for call in SHARED_CALLS]
    sim = simulated(calls)
    emu = asyncio.run(emulated(calls))
    assert sum(kind == "preempt" for _, kind, _ in sim) >= 1
    assert [(kind, name) for _, kind, name in emu] == [(kind, name) for _, kind, name in sim]
    finished = {name: t for t, kind, name in sim if kind == "finish"}
    for t, kind, name in emu:
        if kind == "finish":
            assert t == pytest.approx(finished[name], rel=0.05), name

"""The prompts a replay sends: token ids, exactly as many as the trace's call has input tokens, that
share a prefix exactly where the trace's calls share prefix segments.

A call's prompt is its prefix segments' ids, in order, then its own. A segment's ids are a
function of its key and the replay's seed alone, so every call that starts with the same
segments sends the same leading ids, and a real vLLM's prefix cache hits where the simulator
assumes it does. A call's own ids come from the seed and the call's (query, stage, index).

Where two prompts part, their next ids differ: of the segments and calls' own parts that follow
one shared path of segments (the empty path included: prompts that share nothing), each starts
with its own first id. First ids are handed out per replay, walking the trie of the replay's
prompts: each key gets one first id, different from that of every key it ever follows the same
path as (a key keeps its id wherever it appears), and each call's own part gets one different
from those of the keys and other calls after its path. So two calls share exactly their common
segments and not one token more, and vLLM can hit no block beyond them. Only when more than
29,000 calls follow one path with own tokens (no two of them share a segment: a replay of some
1,500 queries with no prefixes) does a call's own part start with two ids that no other's
starts with, the first shared with up to ~29,000 others; then it differs within its first KV
block except when the path ends one token before a block does. More than 29,000 keys after
one path is an error.

The ids lie in [FIRST_ID, END_ID): every model hexsim knows has a vocabulary larger than END_ID
(Llama 2's 32,000 tokens is the smallest), and the first ids, where tokenizers keep their special
tokens, are left out. Two replays with one seed send the same ids: between them, restart the
engines (or reset their prefix caches) so the second does not hit what the first left cached.
"""

import hashlib
from collections.abc import Sequence

import numpy as np

from hexsim.errors import ParameterError
from hexsim.workload.model import Query

FIRST_ID = 1000
END_ID = 30000
_RANGE = END_ID - FIRST_ID
_FIRST_IDS, _SEGMENT_IDS, _OWN_IDS = 1, 2, 3  # random streams under the seed


def _digest(text: str) -> int:
    # Python's hash() of a string changes from process to process; a digest does not.
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


class _Node:
    """The prompts' continuations after one path of segments: keys that follow it, calls that end it."""

    __slots__ = ("keys", "calls", "used", "low")

    def __init__(self) -> None:
        self.keys: dict[str, None] = {}  # ordered set
        self.calls: list[tuple[str, int, int]] = []
        self.used: set[int] = set()  # first-id colours taken here
        self.low = 0  # no colour below it is free here

    def free_from(self, colour: int) -> int:
        while colour in self.used:
            colour += 1
        return colour

    def take(self, colour: int) -> None:
        self.used.add(colour)
        while self.low in self.used:
            self.low += 1


class Prompts:
    """The token ids of every call of `queries` (a replay's, unique ids) under `seed`."""

    def __init__(self, queries: Sequence[Query], seed: int = 0):
        self.seed = seed
        self._calls = {}
        self._lengths: dict[str, int] = {}
        nodes: dict[tuple[str, ...], _Node] = {(): _Node()}
        for query in queries:
            for k, stage in enumerate(query.stages):
                for i, call in enumerate(stage.calls):
                    self._calls[query.id, k, i] = call
                    path: tuple[str, ...] = ()
                    for segment in call.prefix:
                        nodes[path].keys[segment.key] = None
                        path += (segment.key,)
                        nodes.setdefault(path, _Node())
                        self._lengths[segment.key] = max(self._lengths.get(segment.key, 0), segment.tokens)
                    if call.input_tokens > call.shared_tokens:
                        nodes[path].calls.append((query.id, k, i))
        # Colours: a key's is free at every path it follows; a call's own part's is free after its path.
        places: dict[str, list[_Node]] = {}
        for node in nodes.values():
            for key in node.keys:
                places.setdefault(key, []).append(node)
        self._key_colour: dict[str, int] = {}
        for key in sorted(places):
            colour = max(node.low for node in places[key])
            while True:
                settled = colour
                for node in places[key]:
                    colour = node.free_from(colour)
                if colour == settled:
                    break
            if colour >= _RANGE:
                raise ParameterError(
                    "queries",
                    f"more than {_RANGE:,} prefix segments follow one path of segments: their first "
                    "token ids cannot all differ",
                )
            self._key_colour[key] = colour
            for node in places[key]:
                node.take(colour)
        self._own_head: dict[tuple[str, int, int], tuple[int, ...]] = {}
        for node in nodes.values():
            if len(node.calls) + len(node.keys) <= _RANGE:
                for call in node.calls:
                    colour = node.low
                    node.take(colour)
                    self._own_head[call] = (colour,)
            else:  # more continuations than ids: two leading ids each, the first never a key's
                free = [c for c in range(_RANGE) if c not in node.used]
                for n, call in enumerate(node.calls):
                    self._own_head[call] = (free[n % len(free)], n // len(free))
        self._permutation = np.random.default_rng([seed, _FIRST_IDS]).permutation(_RANGE) + FIRST_ID
        self._segments: dict[str, list[int]] = {}

    def segment_ids(self, key: str, tokens: int) -> list[int]:
        """The first `tokens` ids of segment `key`: its first id, then ids drawn from the seed and the key."""
        ids = self._segments.get(key)
        if ids is None:
            length = self._lengths.get(key, tokens)
            rest = np.random.default_rng([self.seed, _SEGMENT_IDS, _digest(key)]).integers(
                FIRST_ID, END_ID, size=max(0, length - 1)
            )
            ids = [int(self._permutation[self._key_colour[key]])] + rest.tolist()
            self._segments[key] = ids
        return ids[:tokens]

    def ids(self, query_id: str, stage: int, index: int) -> list[int]:
        """The prompt of call `index` of stage `stage` of query `query_id`: its segments' ids, then its own."""
        call = self._calls[query_id, stage, index]
        prompt = [token for segment in call.prefix for token in self.segment_ids(segment.key, segment.tokens)]
        own = call.input_tokens - len(prompt)
        if own > 0:
            head = [int(self._permutation[c]) for c in self._own_head[query_id, stage, index]][:own]
            rng = np.random.default_rng([self.seed, _OWN_IDS, _digest(query_id), stage, index])
            prompt += head + rng.integers(FIRST_ID, END_ID, size=own - len(head)).tolist()
        return prompt

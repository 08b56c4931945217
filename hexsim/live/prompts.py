"""The prompts a replay sends: token ids, exactly as many as the trace's call has input tokens.

A call's ids are drawn from a generator seeded by the replay's seed and the call's (query,
stage, index), so two replays of one trace with one seed send the same prompts, in any
process, and two calls share no prefix an engine's prefix cache could skip. The ids lie in
[FIRST_ID, END_ID): every model hexsim knows has a vocabulary larger than END_ID (Llama 2's
32,000 tokens is the smallest), and the first ids, where tokenizers keep their special
tokens, are left out.
"""

import hashlib

import numpy as np

FIRST_ID = 1000
END_ID = 30000


def prompt_ids(seed: int, query_id: str, stage: int, index: int, length: int) -> list[int]:
    """`length` token ids for call `index` of stage `stage` of query `query_id`."""
    # Python's hash() of a string changes from process to process; a digest does not.
    query_key = int.from_bytes(hashlib.blake2b(query_id.encode(), digest_size=8).digest(), "little")
    rng = np.random.default_rng([seed, query_key, stage, index])
    return rng.integers(FIRST_ID, END_ID, size=length).tolist()

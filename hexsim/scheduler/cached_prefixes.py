"""What the scheduler core believes an instance's prefix cache holds.

The core never reads an engine's cache. It remembers the shared prefixes of the calls it sent
to each instance and forgets the least recently sent once their tokens exceed what the
instance's KV cache holds: the engine's own LRU order, guessed from the outside. It is kept the
same way in simulation and live, from the calls' prefix segments (trace segments in simulation,
a prompt's blocks at the gateway). Policies may read it; the paper's ignore it.
"""

from collections import OrderedDict
from collections.abc import Sequence

from hexsim.workload.model import Segment


class CachedPrefixes:
    def __init__(self, capacity_tokens: int):
        self.capacity = capacity_tokens
        self.tokens = 0
        # A prefix, named by the chained hash of its segments' keys -> tokens of its last segment;
        # least recently sent first.
        self._lru: OrderedDict[int, int] = OrderedDict()

    def cached_tokens(self, prefix: Sequence[Segment]) -> int:
        """Tokens of the longest leading run of `prefix` believed cached."""
        total, chain, lru = 0, 0, self._lru
        for segment in prefix:
            chain = hash((chain, segment.key))
            if chain not in lru:
                break
            total += segment.tokens
        return total

    def sent(self, prefix: Sequence[Segment]) -> None:
        """A call with `prefix` was sent here: its segments are now the most recently used."""
        if not prefix:
            return
        chains, chain = [], 0
        for segment in prefix:
            chain = hash((chain, segment.key))
            chains.append((chain, segment.tokens))
        lru = self._lru
        # Deepest first, so a prefix's parents stay more recent than it and are evicted after it.
        for chain, tokens in reversed(chains):
            if chain in lru:
                lru.move_to_end(chain)
            else:
                lru[chain] = tokens
                self.tokens += tokens
        while self.tokens > self.capacity:
            self.tokens -= lru.popitem(last=False)[1]

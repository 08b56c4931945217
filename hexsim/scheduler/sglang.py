"""SGLang router's cache-aware dispatch: the longest cached prefix while load is balanced, the
shortest queue while it is not.

Source: sgl-project/sglang, sgl-router/src/policies/cache_aware.rs (`CacheAwarePolicy::select_worker`)
and sgl-router/src/policies/tree.rs (`Tree::prefix_match`, `Tree::get_smallest_tenant`), with the
router's command-line defaults (sgl-router/py_src/sglang_router/router_args.py, `RouterArgs`):
`cache_threshold` 0.3, `balance_abs_threshold` 64, `balance_rel_threshold` 1.5, `max_tree_size`
2**26 characters. For each request:

1. load = the router's count of requests sent to a worker and not yet answered; the system is
   imbalanced when `max - min > balance_abs_threshold` and `max > min * balance_rel_threshold`,
   and then the request goes to the least loaded worker (the first of equals);
2. otherwise the router matches the request's text against its radix tree of the texts it sent
   to each worker: if the longest match covers more than `cache_threshold` of the text, the
   request goes to a worker holding that match; if not, to the worker with the smallest tree
   (fewest characters sent to it, after eviction);
3. either way the request's text is inserted in the chosen worker's tree.

Here load is the instance's `outstanding` calls (held by the core or at the engine), the match
is the core's guess of each instance's prefix cache (`InstanceView.prefixes`) in tokens over
the prompt's tokens, and the tree sizes are kept by the dispatcher: each call adds the tokens of
its prompt the chosen instance was not already sent, up to `max_tree_size` (about 2**26 / 4
tokens, at 4 characters a token), the size SGLang evicts each tree back to. Where SGLang's
choice among equals follows its hash maps' order (the first tenant of a tree node, the first
smallest tree), the earliest instance is taken. Queues are FCFS, vLLM's default.
"""

from collections.abc import Sequence

from hexsim.scheduler.protocols import InstanceView
from hexsim.scheduler.state import ScheduledCall

CACHE_THRESHOLD = 0.3
BALANCE_ABS_THRESHOLD = 64
BALANCE_REL_THRESHOLD = 1.5
MAX_TREE_TOKENS = 2**26 // 4


class CacheAware:
    def __init__(self) -> None:
        self.tree_tokens: dict[int, int] = {}  # instance index -> prompt tokens its tree holds

    def choose(self, call: ScheduledCall, candidates: Sequence[InstanceView]) -> InstanceView:
        loads = [inst.outstanding for inst in candidates]
        high, low = max(loads), min(loads)
        if high - low > BALANCE_ABS_THRESHOLD and high > low * BALANCE_REL_THRESHOLD:
            chosen = candidates[loads.index(low)]
        else:
            chosen = self._by_cache(call, candidates)
        self._insert(call, chosen)
        return chosen

    def _by_cache(self, call: ScheduledCall, candidates: Sequence[InstanceView]) -> InstanceView:
        prefix, prompt = call.spec.prefix, call.spec.input_tokens
        matched, holder = 0, candidates[0]
        if prefix:
            for inst in candidates:
                tokens = inst.prefixes.cached_tokens(prefix)
                if tokens > matched:
                    matched, holder = tokens, inst
        if prompt and matched / prompt > CACHE_THRESHOLD:
            return holder
        sizes = self.tree_tokens
        return min(candidates, key=lambda inst: sizes.get(inst.index, 0))

    def _insert(self, call: ScheduledCall, chosen: InstanceView) -> None:
        new = call.spec.input_tokens - chosen.prefixes.cached_tokens(call.spec.prefix)
        self.tree_tokens[chosen.index] = min(self.tree_tokens.get(chosen.index, 0) + new, MAX_TREE_TOKENS)

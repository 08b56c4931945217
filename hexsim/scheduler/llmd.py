"""llm-d's default scheduling profile: three weighted scorers, the highest total wins.

Source: the llm-d inference scheduler (the endpoint picker, "EPP", of the Gateway API Inference
Extension) as llm-d's inference-scheduling guide configures it (llm-d/llm-d,
guides/inference-scheduling/scheduler/inference-scheduling.values.yaml):

    queue-scorer weight 2, kv-cache-utilization-scorer weight 2, prefix-cache-scorer weight 3

with the scorers of kubernetes-sigs/gateway-api-inference-extension,
pkg/epp/framework/plugins/scheduling/scorer/:

- queuedepth/queue.go (`QueueScorer.Score`): an endpoint's waiting queue, min-max normalised
  over the candidates, `(max - waiting) / (max - min)`, and 1 for all when all are equal;
- kvcacheutilization/kvcache_utilization.go: `1 - usage`, usage the engine's KV-cache usage
  fraction (vLLM's `kv_cache_usage_perc`);
- prefix/plugin.go (`Plugin.Score`, and prefix/README.md): matched prefix blocks over the
  prompt's blocks, the blocks of the engine's size (`autoTune`: vLLM's 16 tokens), at most the
  first 256 (`DefaultMaxPrefixBlocks`), looked up in the EPP's own per-endpoint LRU index of the
  prompts it sent there, as large as the endpoint's KV cache (`autoTune`);
- pkg/epp/scheduling/framework/plugins/picker/max_score_picker.go: the highest weighted sum
  wins, ties broken at random.

How the core supplies each signal, the same in simulation and live (it never reads an engine):

- waiting: calls dispatched to the instance whose first token has not come back
  (`outstanding - running`: held by the core, or waiting or in prefill at the engine), what
  vLLM counts as waiting, seen from outside;
- KV usage: `kv_tokens / kv_capacity_tokens_usable`, at most 1. `kv_tokens` is the core's
  estimate of what its running calls hold: each call's prompt and estimated output, a prefix
  segment several of them share counted once (vLLM counts a shared block once, and does not
  count freed blocks that are only cached);
- prefix match: the core's guess of the instance's prefix cache (`InstanceView.prefixes`: the
  prefixes it sent there, forgotten least recently sent first beyond the instance's KV cache),
  which is what the EPP's index is.

Ties go to the tied instances in turn (a counter), standing in for the picker's random shuffle
so that runs stay deterministic. Queues are FCFS, vLLM's default.
"""

from collections.abc import Sequence

from hexsim.scheduler.protocols import InstanceView
from hexsim.scheduler.state import ScheduledCall

QUEUE_WEIGHT = 2.0
KV_CACHE_WEIGHT = 2.0
PREFIX_WEIGHT = 3.0
MAX_PREFIX_BLOCKS = 256


class LlmdScorers:
    def __init__(self) -> None:
        self._turn = 0

    def scores(self, call: ScheduledCall, candidates: Sequence[InstanceView]) -> list[float]:
        """The weighted total of the three scorers, per candidate."""
        waiting = [inst.outstanding - inst.running for inst in candidates]
        low, high = min(waiting), max(waiting)
        prefix = call.spec.prefix
        block = candidates[0].profile.block_size
        blocks = min(call.spec.input_tokens // block, MAX_PREFIX_BLOCKS)
        totals = []
        for inst, queue in zip(candidates, waiting, strict=True):
            queue_score = 1.0 if high == low else (high - queue) / (high - low)
            usage = min(1.0, inst.kv_tokens / inst.profile.kv_capacity_tokens_usable)
            prefix_score = 0.0
            if prefix and blocks:
                matched = min(inst.prefixes.cached_tokens(prefix) // block, blocks)
                prefix_score = matched / blocks
            totals.append(QUEUE_WEIGHT * queue_score + KV_CACHE_WEIGHT * (1.0 - usage) + PREFIX_WEIGHT * prefix_score)
        return totals

    def choose(self, call: ScheduledCall, candidates: Sequence[InstanceView]) -> InstanceView:
        totals = self.scores(call, candidates)
        best = max(totals)
        tied = [inst for inst, total in zip(candidates, totals, strict=True) if total == best]
        if len(tied) == 1:
            return tied[0]
        self._turn += 1
        return tied[(self._turn - 1) % len(tied)]

"""hexsim's own dispatch: the instance where the call is estimated to finish first, and a query's
long calls kept on the instance that holds its prompts.

    finish(c, m) = wait(c, m) + run(c, m)
    run(c, m)    = t(m, prompt(c) - cache_weight * cached(c, m), output(c)) * (1 + batch_slowdown * running(m))
    wait(c, m)   = queue_share * queued_work(m) + kv_wait * queued_work(m) * [c does not fit in m's free KV]

`t` is the standalone time on the instance's type (its speed on this call: heterogeneous GPUs),
`cached` the prompt tokens the core believes the instance's prefix cache holds (the prefill it
can skip; vLLM still computes the last token), `running` the calls decoding there (each slows a
batch iteration), `queued_work` the estimated compute of everything dispatched there and not
finished (with continuous batching only a share of it delays the call: `queue_share`), and the
KV room the core's estimate of the tokens its running calls hold.

A query's long calls (over LONG_CALL_TOKENS prompt tokens, Autellix's threshold) go to its home,
the instance its last long call went to, unless that is estimated to finish more than
`home_slack` times later than the best instance: `finish(c, home) <= (1 + home_slack) *
finish(c, best)`. CHESS's revise rounds repeat one long prompt but for its last few tokens, and
later calls of a query hit what its earlier calls left cached only where they ran; greedy
earliest finish, call by call, spreads a query's calls and pays their prefill again. Measured
on the paper's cluster (bundled trace, sustained load, one seed): 0.172 queries/s at 95%
attainment without a home, 0.222 with `home_slack` 2 (Autellix's `plas`: 0.206).

The parallel calls of a stage are placed one after the other, each seeing the ones before it:
the first leaves its prefix in the instance's cache guess, so the next is drawn to it while
the skipped prefill outweighs the queue it adds, and pushed elsewhere once it does not. Ties go
to the earlier instance. Every weight is a `[scheduler]` hyperparameter that `hexsim tune`
searches.
"""

from collections.abc import Sequence
from weakref import WeakKeyDictionary

from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.estimates import Estimates
from hexsim.scheduler.plas import LONG_CALL_TOKENS
from hexsim.scheduler.protocols import InstanceView
from hexsim.scheduler.state import QueryState, ScheduledCall


class FinishTime:
    def __init__(self, config: SchedulerConfig, estimates: Estimates):
        self.queue_share = config.queue_share
        self.batch_slowdown = config.batch_slowdown
        self.cache_weight = config.cache_weight
        self.kv_wait = config.kv_wait
        self.home_slack = config.home_slack
        self.estimates = estimates
        self._home: WeakKeyDictionary[QueryState, int] = WeakKeyDictionary()  # query -> its long calls' instance

    def finish(self, call: ScheduledCall, inst: InstanceView) -> float:
        spec = call.spec
        cached = inst.prefixes.cached_tokens(spec.prefix) if spec.prefix else 0
        prompt = max(1.0, spec.input_tokens - self.cache_weight * min(cached, spec.input_tokens - 1))
        run = self.estimates(inst.profile, prompt, call.est_output) * (1.0 + self.batch_slowdown * inst.running)
        queued = inst.queued_work
        wait = self.queue_share * queued
        if inst.kv_tokens + spec.input_tokens + call.est_output > inst.profile.kv_capacity_tokens_usable:
            wait += self.kv_wait * queued
        return wait + run

    def choose(self, call: ScheduledCall, candidates: Sequence[InstanceView]) -> InstanceView:
        best, best_finish, home, home_finish = candidates[0], float("inf"), None, 0.0
        long = call.spec.input_tokens > LONG_CALL_TOKENS
        home_index = self._home.get(call.query) if long else None
        for inst in candidates:
            finish = self.finish(call, inst)
            if finish < best_finish:
                best, best_finish = inst, finish
            if inst.index == home_index:
                home, home_finish = inst, finish
        if home is not None and home_finish <= (1.0 + self.home_slack) * best_finish:
            return home
        if long:
            self._home[call.query] = best.index
        return best

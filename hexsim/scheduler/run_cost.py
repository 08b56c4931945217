"""hexsim's own dispatch: a call's estimated run time on each instance against keeping every
instance busy, and a query's long calls kept on the instance that holds its prompts.

    cost(c, m) = run(c, m) + kv_wait * queued_work(m) * [c does not fit in m's free KV]
                 - idle_weight / max(queued_work(m), eps)
    run(c, m)  = t(m, prompt(c) - cache_weight * cached(c, m), output(c)) * (1 + batch_slowdown * running(m))

The call goes to the lowest cost. `t` is the standalone time on the instance's type (its speed
on this call: heterogeneous GPUs), `cached` the prompt tokens the core believes the instance's
prefix cache holds (the prefill it can skip; vLLM still computes the last token), `running`
the calls decoding there (each slows a batch iteration), `queued_work` the estimated compute of
everything dispatched there and not finished, and the KV room the core's estimate of the tokens
its running calls hold.

The idle term is HexGen's balance term: it grows without bound as an instance's queue empties,
so an instance about to go idle draws calls whatever their speed there; once every instance has
work it flattens, and the call's run time decides. Long prompts then go where they run fastest
and short calls, on which the fast GPUs' lead is small, fill the slow ones: each GPU takes the
calls it is comparatively good at. A linear wait term (a share of the queued work added to the
run time: earliest finish), which hexsim used before, balances queues in absolute seconds and
gives a slow GPU's spare time to whatever call comes next. On the paper's cluster (published
trace 2, arrival seed 1, prefix caching on, 95% attainment of 3 x base SLO) it sustained
0.36-0.47 queries/s over the weights tried, where this form sustains 0.61 at its defaults and
`hexgen` tuned to alpha 0.1 0.575.

A query's long calls (over LONG_CALL_TOKENS prompt tokens, Autellix's threshold) go to its home,
the instance its last long call went to, unless that costs more than `home_slack` times the
call's run time at the best instance over the best: `cost(c, home) - cost(c, best) <= home_slack
* run(c, best)`. CHESS's revise rounds repeat one long prompt but for its last few tokens, and
later calls of a query hit what its earlier calls left cached only where they ran; the best
instance call by call spreads a query's calls and pays their prefill again.

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


class RunCost:
    def __init__(self, config: SchedulerConfig, estimates: Estimates):
        self.idle_weight = config.idle_weight
        self.eps = config.eps
        self.batch_slowdown = config.batch_slowdown
        self.cache_weight = config.cache_weight
        self.kv_wait = config.kv_wait
        self.home_slack = config.home_slack
        self.estimates = estimates
        self._home: WeakKeyDictionary[QueryState, int] = WeakKeyDictionary()  # query -> its long calls' instance

    def costs(self, call: ScheduledCall, candidates: Sequence[InstanceView]) -> list[tuple[float, float]]:
        """(cost, run) per candidate; a run time is estimated once per instance type and cached prefix."""
        spec, output = call.spec, call.est_output
        prefix, prompt = spec.prefix, spec.input_tokens
        need = prompt + output
        idle, eps, slowdown, kv_wait, weight = (
            self.idle_weight,
            self.eps,
            self.batch_slowdown,
            self.kv_wait,
            self.cache_weight,
        )
        times: dict[tuple[int, int], float] = {}
        out = []
        for inst in candidates:
            profile = inst.profile
            cached = inst.prefixes.cached_tokens(prefix) if prefix else 0
            key = (id(profile), cached)
            t = times.get(key)
            if t is None:
                skipped = weight * (cached if cached < prompt - 1 else prompt - 1)
                t = times[key] = self.estimates(profile, max(1.0, prompt - skipped), output)
            run = t * (1.0 + slowdown * inst.running)
            queued = inst.queued_work
            cost = run - idle / (queued if queued > eps else eps)
            if inst.kv_tokens + need > profile.kv_capacity_tokens_usable:
                cost += kv_wait * queued
            out.append((cost, run))
        return out

    def choose(self, call: ScheduledCall, candidates: Sequence[InstanceView]) -> InstanceView:
        best, best_cost, best_run, home, home_cost = candidates[0], float("inf"), 0.0, None, 0.0
        long = call.spec.input_tokens > LONG_CALL_TOKENS
        home_index = self._home.get(call.query) if long else None
        for inst, (cost, run) in zip(candidates, self.costs(call, candidates), strict=True):
            if cost < best_cost:
                best, best_cost, best_run = inst, cost, run
            if inst.index == home_index:
                home, home_cost = inst, cost
        if home is not None and home_cost - best_cost <= self.home_slack * best_run:
            return home
        if long:
            self._home[call.query] = best.index
        return best

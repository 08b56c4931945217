"""Autellix's program-level least attained service (PLAS) and its load balancer.

Source: Luo et al., "Autellix: An Efficient Serving Engine for LLM Agents as General Programs"
(arXiv 2502.13965): PLAS (section 4) and the multi-engine load balancer (Algorithm 2). No code
of Autellix is public; this follows the paper.

Queue order. A call's priority is the service its program (here: its query) has attained, the
service of the program's calls that completed; lower runs first, equals first come first
served. The attained service is the core's estimate of the finished calls' compute
(`QueryState.attained`: each call's `t_comp`, its standalone time on the instance it ran on
with its step's estimated output), for three reasons: the core keeps estimates, never
measurements; from outside an engine a measured time mixes service with queueing and with the
slowdown of a full batch (a gateway sees only a call's first token and its end, and with
`max_running = 0` the engine's own waiting queue is invisible); and an estimate gives the same
number in simulation and live. The key is fixed when the call is dispatched (the attained
service at that moment), like every queue key in the core, and reaches the engine as vLLM's
`priority` (milliseconds of attained service), as urgency's does: Autellix orders the engine's
own queue, and with calls admitted at once the engine's queue is where the order matters.
Autellix discretises priorities into a few queues with anti-starvation promotion and preempts
running calls whose program crosses a queue's limit; the core never preempts an admitted call,
so this is PLAS's order without preemption, in the limit of fine queues.

Dispatch (Algorithm 2). A call of at most 2048 prompt tokens goes to the least used engine; a
longer one goes to the engine its program's long calls went to (its KV cache is there), or, the
first time, to the least used engine, which the program keeps. "Least used" is the fewest
outstanding calls (held by the core or at the engine), the engine's request count as a router
sees it, as in `lor`. If the program's engine cannot take the call (it is down, full, or the
call is being placed again away from it), the call goes to the least used engine, which becomes
the program's.
"""

from collections.abc import Sequence
from weakref import WeakKeyDictionary

from hexsim.scheduler.least_outstanding import LeastOutstanding
from hexsim.scheduler.protocols import InstanceView
from hexsim.scheduler.state import QueryState, ScheduledCall

LONG_CALL_TOKENS = 2048


class AttainedService:
    engine_priority = True

    def key(self, call: ScheduledCall) -> float:
        return call.query.attained


class ProgramLocality:
    def __init__(self, long_call_tokens: int = LONG_CALL_TOKENS):
        self.long_call_tokens = long_call_tokens
        self._least_used = LeastOutstanding()
        self._home: WeakKeyDictionary[QueryState, int] = WeakKeyDictionary()  # program -> instance index

    def choose(self, call: ScheduledCall, candidates: Sequence[InstanceView]) -> InstanceView:
        if call.spec.input_tokens <= self.long_call_tokens:
            return self._least_used.choose(call, candidates)
        home = self._home.get(call.query)
        for inst in candidates:
            if inst.index == home:
                return inst
        inst = self._least_used.choose(call, candidates)
        self._home[call.query] = inst.index
        return inst

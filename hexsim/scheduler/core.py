"""The scheduler core both runtimes drive: events in, decisions out (see `events.py`).

It keeps stage deadlines, dispatches each call to an instance, holds the calls an instance
cannot take yet in the policy's order, and admits them when the instance has room: under the
`max_running` cap of calls in flight, and while the runtime has not said the instance is full.
While some instances have room, calls go only to those; while some are up, never to one the
runtime took out. A call that failed before answering is placed again. Requests an engine holds that the
runtime did not send it count as load, a typical call each (the template's means).
It never reads a clock (time comes in as `now`) and sees a query only as far as it has gone:
output lengths and later stages come from the workflow template, never from the trace.
"""

import heapq
from collections import defaultdict
from collections.abc import Callable, Sequence

from hexsim.errors import ParameterError
from hexsim.profiles.latency import Profile
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.estimates import Estimates
from hexsim.scheduler.events import (
    Admit,
    CallFailed,
    CallFinished,
    CallId,
    CallRetry,
    CallSpec,
    CallStarted,
    Decision,
    Dispatch,
    Event,
    Fail,
    InstanceLoad,
    InstanceRoom,
    InstanceUp,
    QueryArrived,
    QueryFinished,
    StageReady,
)
from hexsim.scheduler.registry import Policy, PolicyContext
from hexsim.scheduler.state import InstanceState, QueryState, ScheduledCall
from hexsim.scheduler.template import WorkflowTemplate

# Queue keys are seconds; vLLM's request priority is an integer: keys reach it in milliseconds,
# and a call without a deadline (an infinite SLO) goes after every call with one.
PRIORITY_PER_SECOND = 1000
NO_DEADLINE_PRIORITY = 2**63 - 1
INF = float("inf")


class SchedulerCore:
    def __init__(
        self,
        policy: Policy,
        instances: Sequence[tuple[str, Profile]],
        template: WorkflowTemplate,
        model: str,
        config: SchedulerConfig = SchedulerConfig(),
    ):
        self.policy = policy
        self.config = config
        self.model = model
        self.template = template
        estimates = Estimates()
        self.instances = [InstanceState(i, name, profile, estimates) for i, (name, profile) in enumerate(instances)]
        by_model: dict[str, list[InstanceState]] = defaultdict(list)
        for inst in self.instances:
            by_model[inst.model].append(inst)
        self._candidates = by_model[model]
        if not self._candidates:
            raise ParameterError("model", f"no instance serves {model!r}")
        types = list(dict.fromkeys(inst.profile for inst in self._candidates))
        context = PolicyContext(config, template, types, estimates)
        self._dispatcher = policy.dispatcher(context)
        self._order = policy.order(context)
        self._budget = policy.budget(context)
        self.engine_priority = self._order.engine_priority
        typical_input = _mean([shape.stage_input_mean for shape in template.steps.values()])
        for inst in self.instances:
            inst.foreign_call = estimates(inst.profile, typical_input, template.default_output)
        self._roomless = 0
        self._down = 0
        self._smallest_kv = min(inst.profile.kv_capacity_tokens_usable for inst in self._candidates)
        self._largest_kv = max(inst.profile.kv_capacity_tokens_usable for inst in self._candidates)
        self._outputs: dict[str, float] = {}
        self._queries: dict[str, QueryState] = {}
        self._calls: dict[CallId, ScheduledCall] = {}
        self._dispatched = 0
        self.handlers: dict[type, Callable[..., Sequence[Decision]]] = {
            QueryArrived: self._query_arrived,
            StageReady: self._stage_ready,
            CallStarted: self._call_started,
            CallFinished: self._call_finished,
            CallFailed: self._call_failed,
            CallRetry: self._call_retry,
            InstanceRoom: self._instance_room,
            InstanceUp: self._instance_up,
            InstanceLoad: self._instance_load,
            QueryFinished: self._query_finished,
        }

    def handle(self, event: Event, now: float) -> Sequence[Decision]:
        """Take one event at time `now`; return the decisions the runtime must carry out, in order."""
        return self.handlers[type(event)](event, now)

    # -- events ----------------------------------------------------------------------------

    def _query_arrived(self, event: QueryArrived, now: float) -> Sequence[Decision]:
        if event.query in self._queries:
            raise ParameterError("query", f"query {event.query!r} arrived twice")
        if not event.slo > 0.0:
            raise ParameterError("slo", f"must be a positive number of seconds, got {event.slo!r}")
        self._queries[event.query] = QueryState(event.query, now, event.slo)
        return ()

    def _stage_ready(self, event: StageReady, now: float) -> list[Decision]:
        state = self._queries.get(event.query) or self._query(event.query)
        new_stage = event.stage == state.stage + 1
        if not new_stage and event.stage != state.stage:
            at = f"is at stage {state.stage}" if state.stage >= 0 else "has not started (its first stage is 0)"
            raise ParameterError("stage", f"query {event.query!r} {at}, got stage {event.stage}")
        first = 0 if new_stage else state.stage_calls
        if event.first != first:
            raise ParameterError(
                "stage",
                f"query {event.query!r} stage {event.stage} has {first} calls, got calls from index {event.first}",
            )
        if new_stage:
            step = event.calls[0].step
            occurrence = state.stages_of_step[step] = state.stages_of_step.get(step, 0) + 1
            state.positions.append((step, occurrence))
        state.stage_calls = first + len(event.calls)
        outputs, stage, query = self._outputs, event.stage, state.id
        calls = []
        for i, spec in enumerate(event.calls):
            est = outputs.get(spec.step) if spec.known_output is None else spec.known_output
            if est is None:
                est = outputs[spec.step] = self.template.output(spec.step)
            calls.append(ScheduledCall((query, stage, first + i), state, spec, est))
        if new_stage:
            state.stage_deadline = self._budget.stage_deadline(state, calls, now)
        decisions: list[Decision] = []
        touched: list[InstanceState] = []
        for call in calls:
            call.deadline = state.stage_deadline
            inst = self._place(call, decisions)
            if inst is not None and inst not in touched:
                touched.append(inst)
        if len(touched) > 1:
            touched.sort(key=_index)
        for inst in touched:
            self._admit(inst, decisions)
        return decisions

    def _place(self, call: ScheduledCall, decisions: list[Decision], avoid: int = -1) -> InstanceState | None:
        """Dispatch `call` to an instance (not `avoid` while another can take it) and hold it there;
        None (and a Fail) if no instance can ever hold it."""
        spec = call.spec
        tokens = spec.input_tokens + (spec.max_tokens or 0)
        candidates = self._candidates if tokens <= self._smallest_kv else self._fitting(tokens)
        if not candidates:
            decisions.append(Fail(call.id, self._too_large(spec)))
            return None
        if self._down:
            candidates = [inst for inst in candidates if inst.up] or candidates
        if avoid >= 0:
            candidates = [inst for inst in candidates if inst.index != avoid] or candidates
        if self._roomless:
            candidates = [inst for inst in candidates if inst.room] or candidates
        inst = self._dispatcher.choose(call, candidates)
        call.instance = inst.index
        call.t_comp = t_comp = inst.est_compute(call)
        call.key = call_key = self._order.key(call)
        inst.outstanding += 1
        inst.queued_work += t_comp
        if spec.prefix:
            inst.prefixes.sent(spec.prefix)
        self._calls[call.id] = call
        self._dispatched += 1
        heapq.heappush(inst.held, (call_key, self._dispatched, call))
        decisions.append(Dispatch(call.id, inst.index, call.deadline, call_key))
        return inst

    def _call_started(self, event: CallStarted, now: float) -> Sequence[Decision]:
        call = self._admitted(event.call)
        if not call.started:
            call.started = True
            inst = self.instances[call.instance]
            inst.running += 1
            inst.hold_kv(call)
        return ()

    def _call_finished(self, event: CallFinished, now: float) -> Sequence[Decision]:
        call = self._admitted(event.call)
        call.query.attained += call.t_comp
        return self._release(call)

    def _call_failed(self, event: CallFailed, now: float) -> Sequence[Decision]:
        call = self._calls.get(event.call)
        if call is not None and not call.admitted:
            del self._calls[call.id]
            inst = self.instances[call.instance]
            inst.held = [entry for entry in inst.held if entry[2] is not call]
            heapq.heapify(inst.held)
            self._unload(inst, call)
            return ()
        return self._release(self._admitted(event.call))

    def _call_retry(self, event: CallRetry, now: float) -> Sequence[Decision]:
        call = self._admitted(event.call)
        decisions = list(self._release(call))
        call.admitted = call.started = False
        inst = self._place(call, decisions, avoid=call.instance)
        if inst is not None:
            self._admit(inst, decisions)
        return decisions

    def _instance_up(self, event: InstanceUp, now: float) -> list[Decision]:
        inst = self.instances[event.instance]
        if inst.up == event.up:
            return []
        inst.up = event.up
        self._down += -1 if event.up else 1
        # Calls held where they cannot run (on a down instance) go where they can.
        stranded = [i for i in self._candidates if not i.up and i.held] if self._down < len(self._candidates) else []
        decisions: list[Decision] = []
        touched: list[InstanceState] = []
        for source in stranded:
            calls = [entry[2] for entry in sorted(source.held)]
            source.held.clear()
            for call in calls:
                self._unload(source, call)
                target = self._place(call, decisions)
                if target is not None and target not in touched:
                    touched.append(target)
        touched.sort(key=_index)
        for target in touched:
            self._admit(target, decisions)
        return decisions

    def _instance_room(self, event: InstanceRoom, now: float) -> Sequence[Decision]:
        inst = self.instances[event.instance]
        if inst.room != event.room:
            self._roomless += -1 if event.room else 1
        inst.room = event.room
        decisions: list[Decision] = []
        self._admit(inst, decisions)
        return decisions

    def _instance_load(self, event: InstanceLoad, now: float) -> Sequence[Decision]:
        inst = self.instances[event.instance]
        foreign = max(0, event.foreign)
        change = foreign - inst.foreign
        inst.foreign = foreign
        inst.outstanding += change
        inst.queued_work = max(0.0, inst.queued_work + change * inst.foreign_call) if inst.outstanding else 0.0
        return ()

    def _query_finished(self, event: QueryFinished, now: float) -> Sequence[Decision]:
        self._query(event.query)
        del self._queries[event.query]
        return ()

    # -- bookkeeping -----------------------------------------------------------------------

    def _query(self, query: str) -> QueryState:
        try:
            return self._queries[query]
        except KeyError:
            raise ParameterError("query", f"unknown query {query!r}") from None

    def _admitted(self, call_id: CallId) -> ScheduledCall:
        call = self._calls.get(call_id)
        if call is None or not call.admitted:
            raise ParameterError("call", f"call {call_id!r} is not admitted")
        return call

    def _fitting(self, tokens: int) -> list[InstanceState]:
        """The instances whose KV cache can hold a call of `tokens` prompt and output tokens."""
        return [inst for inst in self._candidates if tokens <= inst.profile.kv_capacity_tokens_usable]

    def _too_large(self, spec: CallSpec) -> str:
        output = f" + {spec.max_tokens} output" if spec.max_tokens else ""
        return (
            f"{spec.input_tokens} prompt{output} tokens exceed the KV cache of every instance serving "
            f"{self.model} (at most {self._largest_kv} tokens)"
        )

    def _admit(self, inst: InstanceState, decisions: list[Decision]) -> None:
        """Admit the instance's held calls, in queue order, while it has room."""
        held, cap = inst.held, self.config.max_running
        while held and inst.room and (not cap or inst.in_flight < cap):
            call = heapq.heappop(held)[2]
            call.admitted = True
            inst.in_flight += 1
            priority = 0
            if self.engine_priority:
                priority = round(call.key * PRIORITY_PER_SECOND) if call.key < INF else NO_DEADLINE_PRIORITY
            decisions.append(Admit(call.id, inst.index, priority))

    def _release(self, call: ScheduledCall) -> Sequence[Decision]:
        del self._calls[call.id]
        inst = self.instances[call.instance]
        inst.in_flight -= 1
        if call.started:
            inst.running -= 1
            inst.free_kv(call)
        self._unload(inst, call)
        if not inst.held:
            return ()
        decisions: list[Decision] = []
        self._admit(inst, decisions)
        return decisions

    @staticmethod
    def _unload(inst: InstanceState, call: ScheduledCall) -> None:
        """Take a call's estimated work off the instance it was dispatched to."""
        inst.outstanding -= 1
        inst.queued_work = inst.queued_work - call.t_comp if inst.outstanding else 0.0


def _index(inst: InstanceState) -> int:
    return inst.index


def _mean(values: list[float]) -> float:
    present = [v for v in values if v > 0]
    return sum(present) / len(present) if present else 0.0

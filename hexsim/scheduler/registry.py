"""Policies by name: a policy is a dispatcher, a queue order and a budget rule.

A new policy is a file holding its parts plus one `Policy(...)` line below (or a call to
`register_policy` from the user's own code).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hexsim.errors import ParameterError
from hexsim.profiles.latency import Profile
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.estimates import Estimates
from hexsim.scheduler.fcfs import Fcfs
from hexsim.scheduler.least_outstanding import LeastOutstanding
from hexsim.scheduler.llmd import LlmdScorers
from hexsim.scheduler.plas import AttainedService, ProgramLocality
from hexsim.scheduler.protocols import BudgetRule, Dispatcher, QueueOrder
from hexsim.scheduler.query_deadline import QueryDeadline
from hexsim.scheduler.round_robin import RoundRobin
from hexsim.scheduler.run_cost import RunCost
from hexsim.scheduler.sglang import CacheAware
from hexsim.scheduler.stage_budget import StageBudget
from hexsim.scheduler.template import WorkflowTemplate
from hexsim.scheduler.urgency import Urgency
from hexsim.scheduler.workload_balance import WorkloadBalanced


@dataclass(frozen=True)
class PolicyContext:
    """What a policy's parts are built from: hyperparameters, template, the model's instance types,
    and the core's memo of standalone-time estimates."""

    config: SchedulerConfig
    template: WorkflowTemplate
    instance_types: Sequence[Profile]
    estimates: Estimates


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    dispatcher: Callable[[PolicyContext], Dispatcher]
    order: Callable[[PolicyContext], QueueOrder]
    budget: Callable[[PolicyContext], BudgetRule]


def _round_robin(ctx: PolicyContext) -> Dispatcher:
    return RoundRobin()


def _least_outstanding(ctx: PolicyContext) -> Dispatcher:
    return LeastOutstanding()


def _workload_balanced(ctx: PolicyContext) -> Dispatcher:
    return WorkloadBalanced(ctx.config)


def _llmd(ctx: PolicyContext) -> Dispatcher:
    return LlmdScorers()


def _sglang(ctx: PolicyContext) -> Dispatcher:
    return CacheAware()


def _autellix(ctx: PolicyContext) -> Dispatcher:
    return ProgramLocality()


def _run_cost(ctx: PolicyContext) -> Dispatcher:
    return RunCost(ctx.config, ctx.estimates)


def _fcfs(ctx: PolicyContext) -> QueueOrder:
    return Fcfs()


def _urgency(ctx: PolicyContext) -> QueueOrder:
    return Urgency()


def _plas(ctx: PolicyContext) -> QueueOrder:
    return AttainedService()


def _query_deadline(ctx: PolicyContext) -> BudgetRule:
    return QueryDeadline()


def _stage_budget(ctx: PolicyContext) -> BudgetRule:
    return StageBudget(ctx.template, ctx.instance_types, ctx.estimates)


POLICIES: dict[str, Policy] = {
    p.name: p
    for p in (
        Policy("vllm", "round-robin dispatch + FCFS queues", _round_robin, _fcfs, _query_deadline),
        Policy("lor", "least outstanding requests + FCFS queues", _least_outstanding, _fcfs, _query_deadline),
        Policy("rr-pq", "round-robin dispatch + urgency queues", _round_robin, _urgency, _stage_budget),
        Policy("wb-fcfs", "workload-balanced dispatch + FCFS queues", _workload_balanced, _fcfs, _query_deadline),
        Policy("hexgen", "workload-balanced dispatch + urgency queues", _workload_balanced, _urgency, _stage_budget),
        Policy("llmd", "llm-d's queue, KV-cache and prefix-cache scorers + FCFS queues", _llmd, _fcfs, _query_deadline),
        Policy("sglang", "SGLang router's cache-aware dispatch + FCFS queues", _sglang, _fcfs, _query_deadline),
        Policy("plas", "Autellix's program-locality dispatch + PLAS queues", _autellix, _plas, _query_deadline),
        Policy("hexsim", "run time against idle instances + urgency queues", _run_cost, _urgency, _stage_budget),
    )
}


def register_policy(policy: Policy) -> Policy:
    """Make `policy` known by its name to every command, config file and comparison."""
    if policy.name in POLICIES:
        raise ParameterError("policy", f"a policy named {policy.name!r} is already registered")
    POLICIES[policy.name] = policy
    return policy


def get_policy(name: str) -> Policy:
    try:
        return POLICIES[name]
    except KeyError:
        raise ParameterError("policy", f"unknown policy {name!r} (known: {', '.join(POLICIES)})") from None

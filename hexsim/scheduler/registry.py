"""Policies by name: a policy is a dispatcher, a local queue discipline and a budget rule."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hexsim.errors import InputError
from hexsim.profiles.latency import Profile
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.fcfs import FcfsQueue
from hexsim.scheduler.least_outstanding import LeastOutstanding
from hexsim.scheduler.protocols import BudgetRule, Dispatcher, LocalQueue
from hexsim.scheduler.query_deadline import QueryDeadline
from hexsim.scheduler.round_robin import RoundRobin
from hexsim.scheduler.stage_budget import StageBudget
from hexsim.scheduler.template import WorkflowTemplate
from hexsim.scheduler.urgency import UrgencyQueue
from hexsim.scheduler.workload_balance import WorkloadBalanced


@dataclass(frozen=True)
class PolicyContext:
    """What a policy's parts are built from: hyperparameters, template, the model's instance types."""

    config: SchedulerConfig
    template: WorkflowTemplate
    instance_types: Sequence[Profile]


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    dispatcher: Callable[[PolicyContext], Dispatcher]
    queue: Callable[[], LocalQueue]
    budget: Callable[[PolicyContext], BudgetRule]


def _round_robin(ctx: PolicyContext) -> Dispatcher:
    return RoundRobin()


def _least_outstanding(ctx: PolicyContext) -> Dispatcher:
    return LeastOutstanding()


def _workload_balanced(ctx: PolicyContext) -> Dispatcher:
    return WorkloadBalanced(ctx.config)


def _query_deadline(ctx: PolicyContext) -> BudgetRule:
    return QueryDeadline()


def _stage_budget(ctx: PolicyContext) -> BudgetRule:
    return StageBudget(ctx.template, ctx.instance_types)


POLICIES: dict[str, Policy] = {
    p.name: p
    for p in (
        Policy("vllm", "round-robin dispatch + FCFS queues", _round_robin, FcfsQueue, _query_deadline),
        Policy("lor", "least outstanding requests + FCFS queues", _least_outstanding, FcfsQueue, _query_deadline),
        Policy("rr-pq", "round-robin dispatch + urgency queues", _round_robin, UrgencyQueue, _stage_budget),
        Policy("wb-fcfs", "workload-balanced dispatch + FCFS queues", _workload_balanced, FcfsQueue, _query_deadline),
        Policy(
            "hexgen", "workload-balanced dispatch + urgency queues", _workload_balanced, UrgencyQueue, _stage_budget
        ),
    )
}


def get_policy(name: str, where: str = "--policy") -> Policy:
    try:
        return POLICIES[name]
    except KeyError:
        raise InputError(where, f"unknown policy {name!r} (known: {', '.join(POLICIES)})") from None

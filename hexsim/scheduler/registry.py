"""Policies by name: a policy is a dispatcher, a local queue discipline and a budget rule."""

from collections.abc import Callable
from dataclasses import dataclass

from hexsim.errors import InputError
from hexsim.scheduler.fcfs import FcfsQueue
from hexsim.scheduler.least_outstanding import LeastOutstanding
from hexsim.scheduler.protocols import BudgetRule, Dispatcher, LocalQueue
from hexsim.scheduler.query_deadline import QueryDeadline
from hexsim.scheduler.round_robin import RoundRobin


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    dispatcher: Callable[[], Dispatcher]
    queue: Callable[[], LocalQueue]
    budget: Callable[[], BudgetRule]


POLICIES: dict[str, Policy] = {
    "vllm": Policy("vllm", "round-robin dispatch + FCFS queues", RoundRobin, FcfsQueue, QueryDeadline),
    "lor": Policy("lor", "least outstanding requests + FCFS queues", LeastOutstanding, FcfsQueue, QueryDeadline),
}


def get_policy(name: str, where: str = "--policy") -> Policy:
    try:
        return POLICIES[name]
    except KeyError:
        raise InputError(where, f"unknown policy {name!r} (known: {', '.join(POLICIES)})") from None

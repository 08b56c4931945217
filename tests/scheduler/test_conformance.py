"""The policy conformance suite, run over every registered policy: one test class per policy."""

from hexsim.scheduler.registry import POLICIES
from hexsim.testing import PolicyConformance


def _suite(name: str) -> type:
    return type(f"TestConformance_{name}", (PolicyConformance,), {"policy": POLICIES[name]})


globals().update({f"TestConformance_{name.replace('-', '_')}": _suite(name) for name in POLICIES})

"""Test suites for users' own policies (run with pytest)."""

from hexsim.testing.conformance import PolicyConformance

__all__ = ["PolicyConformance"]

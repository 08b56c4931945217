"""Latency profiles: iteration-time models of (model, GPU, TP) instances, and their files."""

from hexsim.profiles.latency import IterationCoefficients, Profile

__all__ = ["IterationCoefficients", "Profile"]

"""Queries, stages and calls; trace formats; arrival processes; the synthetic trace generator."""

from hexsim.workload.model import Call, Query, Stage, group_chess_stages

__all__ = ["Call", "Query", "Stage", "group_chess_stages"]

"""hexsim: simulate, tune and serve agentic Text-to-SQL workflows on heterogeneous GPU clusters."""

__version__ = "0.1.0"

"""Defaults and the names of choices, in a module light enough for the command line's help."""

DEFAULT_RATE = 0.03  # queries/s: a light load; the paper's cluster sustains 0.19 under `lor`, 0.08 under `vllm`
DEFAULT_SLO_SCALE = 2.0
THROUGHPUT_SLO_SCALE = 3.0  # CHESS queries with many revise rounds take over twice the base SLO even alone
SUSTAINED_SPAN_SLOS = 100.0  # a throughput search's arrivals span at least this many SLOs (hexsim.sim.throughput)
DEFAULT_MODEL = "meta-llama/Llama-3.1-70B-Instruct"

# The base SLO: the trace's own queries alone (default), or the paper's standard CHESS workflow alone.
BASE_SLO_RULES = ("trace", "chess")
DEFAULT_BASE_SLO = "trace"

ARRIVAL_PROCESSES = ("poisson", "gamma", "trace")
OBJECTIVES = {"attainment": "maximize", "deadline": "minimize", "throughput": "maximize"}
SAMPLERS = ("tpe", "gp", "cmaes")
SCHEDULING_POLICIES = ("fcfs", "priority")  # vLLM's --scheduling-policy

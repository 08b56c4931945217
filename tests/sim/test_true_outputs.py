"""The upper bound of a policy told the calls' true output lengths: the simulator hands the
scheduler each call's own output in place of its step's estimate, and only when asked."""

import io
import json

from hexsim.scheduler import registry
from hexsim.scheduler.log import DecisionLog
from hexsim.scheduler.registry import Policy
from hexsim.scheduler.template import WorkflowTemplate
from hexsim.sim.simulate import simulate
from tests.sim.helpers import cluster, profile, single_call_query


class Spy:
    """Sends every call to the first instance, noting the output the core estimated for it."""

    def __init__(self, seen: list):
        self.seen = seen

    def choose(self, call, candidates):
        self.seen.append(call.est_output)
        return candidates[0]


def outputs_seen(true_outputs: bool) -> tuple[list, WorkflowTemplate, list]:
    """The outputs the core estimated, the template, and the known outputs the decision log recorded."""
    seen: list = []
    policy = Policy("spy", "", lambda ctx: Spy(seen), registry._fcfs, registry._query_deadline)
    queries = [single_call_query(f"q{k}", 10.0 * k, 100, out) for k, out in enumerate((5, 40, 300))]
    template = WorkflowTemplate.from_queries(queries)
    sink = io.StringIO()
    log = DecisionLog(sink, ["i0"])
    simulate(cluster(profile()), queries, policy, 1e9, template=template, log=log, true_outputs=true_outputs)
    ready = [json.loads(line) for line in sink.getvalue().splitlines() if '"stage_ready"' in line]
    return seen, template, [r.get("known_output", "absent") for r in ready]


def test_told_the_true_outputs_the_core_estimates_each_call_by_its_own_and_the_log_says_so():
    seen, _, logged = outputs_seen(true_outputs=True)
    assert seen == logged == [5, 40, 300]


def test_otherwise_every_call_of_a_step_gets_the_templates_estimate():
    seen, template, logged = outputs_seen(true_outputs=False)
    assert len(set(seen)) == 1 and seen[0] == template.output("step") not in (5, 40, 300)
    assert logged == ["absent"] * 3

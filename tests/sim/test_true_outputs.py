"""The upper bound of a policy told the calls' true output lengths: the simulator hands the
scheduler each call's own output in place of its step's estimate, and only when asked."""

from hexsim.scheduler import registry
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


def outputs_seen(true_outputs: bool) -> tuple[list, WorkflowTemplate]:
    seen: list = []
    policy = Policy("spy", "", lambda ctx: Spy(seen), registry._fcfs, registry._query_deadline)
    queries = [single_call_query(f"q{k}", 10.0 * k, 100, out) for k, out in enumerate((5, 40, 300))]
    template = WorkflowTemplate.from_queries(queries)
    simulate(cluster(profile()), queries, policy, 1e9, template=template, true_outputs=true_outputs)
    return seen, template


def test_told_the_true_outputs_the_core_estimates_each_call_by_its_own():
    assert outputs_seen(true_outputs=True)[0] == [5, 40, 300]


def test_otherwise_every_call_of_a_step_gets_the_templates_estimate():
    seen, template = outputs_seen(true_outputs=False)
    assert len(set(seen)) == 1 and seen[0] == template.output("step") not in (5, 40, 300)

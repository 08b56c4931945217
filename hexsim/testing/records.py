"""Checks of a run's records and decision log that hold for every policy and runtime."""

import json
from collections import Counter, defaultdict
from collections.abc import Sequence

from hexsim.metrics.records import RunRecords
from hexsim.workload.model import Query


def check_records(records: RunRecords, queries: Sequence[Query]) -> None:
    """Every query recorded; stages in order; each call's timestamps in order; a query ends with its last stage."""
    assert len(records.queries) == len(queries)
    stages = defaultdict(list)
    for call in records.calls:
        stages[call.query_id, call.stage].append(call)
    arrivals = {q.query_id: q for q in records.queries}
    for (qid, stage), calls in stages.items():
        ready = calls[0].ready
        assert all(c.ready == ready for c in calls)
        if stage == 0:
            assert ready == arrivals[qid].arrival
        else:
            previous = stages[qid, stage - 1]
            assert ready == max(c.finished for c in previous), "a stage started before its predecessor finished"
        for c in calls:
            if c.finished is not None:
                assert c.admitted is not None and ready <= c.admitted <= c.first_token <= c.finished
    for q in records.queries:
        if q.finished is not None:
            last = max(stage for (qid, stage) in stages if qid == q.query_id)
            assert q.finished == max(c.finished for c in stages[q.query_id, last])
            assert sum(len(stages[q.query_id, s]) for s in range(last + 1)) == q.n_calls


def check_decision_log(log: str, serving: set[str], max_running: int = 0) -> list[dict]:
    """Each call dispatched and admitted at most once, finished once if admitted, never before its
    admission, only to instances in `serving`, at most `max_running` (if set) in flight per instance."""
    records = [json.loads(line) for line in log.splitlines()]
    dispatched, admitted, finished = Counter(), Counter(), Counter()
    in_flight: Counter = Counter()
    where = {}
    for r in records:
        call = (r.get("query"), r.get("stage"), r.get("index"))
        if r.get("decision") == "dispatch":
            dispatched[call] += 1
            where[call] = r["instance"]
            assert r["instance"] in serving, f"{call} dispatched to {r['instance']}"
        elif r.get("decision") == "admit":
            assert dispatched[call] == 1, f"{call} admitted before its dispatch"
            admitted[call] += 1
            in_flight[where[call]] += 1
            assert not max_running or in_flight[where[call]] <= max_running, f"{where[call]} over the cap"
        elif r.get("event") == "call_finished":
            assert admitted[call] == 1, f"{call} finished without being admitted"
            finished[call] += 1
            in_flight[where[call]] -= 1
    assert all(n == 1 for n in dispatched.values()), "a call was dispatched twice"
    assert all(n == 1 for n in admitted.values()), "a call was admitted twice"
    assert finished == admitted, "an admitted call did not finish once"
    return records

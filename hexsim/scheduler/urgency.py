"""Urgency order: the waiting call with the least slack first.

Urgency u = t_comp - (deadline - now) orders calls like their latest start time
deadline - t_comp (`now` is common to all of them), which does not change while a call
waits: the key is the latest start, and the engine gets it as the request's priority.
"""

from hexsim.scheduler.state import ScheduledCall


class Urgency:
    engine_priority = True

    def key(self, call: ScheduledCall) -> float:
        return call.deadline - call.t_comp

"""Standalone-time estimates of calls on instance types, remembered: a call's stage deadline and
its dispatch ask for the same ones (every instance type, every candidate instance)."""

from hexsim.profiles.latency import Profile

MEMO_LIMIT = 65536


class Estimates:
    def __init__(self) -> None:
        self._memo: dict[tuple[int, float, float], float] = {}

    def __call__(self, profile: Profile, input_tokens: float, output_tokens: float) -> float:
        key = (id(profile), input_tokens, output_tokens)
        value = self._memo.get(key)
        if value is None:
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            value = self._memo[key] = profile.standalone_time(input_tokens, output_tokens)
        return value

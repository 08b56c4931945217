"""Shipped profiles first, the roofline for everything else."""

import pytest

from hexsim.errors import InputError
from hexsim.profiles.resolve import canonical_model, resolve_profile

LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"


def test_shipped_profile_wins_and_aliases_resolve():
    profile = resolve_profile("llama-3.1-70b", "A6000", None, "test")
    assert (profile.model, profile.tp) == (LLAMA_70B, 8) and profile.provenance.startswith("Calibrated")
    assert canonical_model("LLAMA-3.1-70B") == LLAMA_70B and canonical_model("acme/x") == "acme/x"


def test_unshipped_configuration_falls_back_to_the_roofline():
    profile = resolve_profile(LLAMA_70B, "H200", None, "test")
    assert profile.tp == 2 and profile.provenance.startswith("Roofline-derived")
    faster = resolve_profile(LLAMA_70B, "H200", 4, "test")
    assert faster.tp == 4 and faster.standalone_time(2000, 100) < profile.standalone_time(2000, 100)


@pytest.mark.parametrize(
    ("model", "tp", "expected"),
    [
        ("acme/Unknown-7B", None, "no profile for 'acme/Unknown-7B'"),
        (LLAMA_70B, 3, "tp=3 does not divide the 64 attention heads"),
    ],
)
def test_no_profile_can_be_had(model, tp, expected):
    with pytest.raises(InputError, match=expected):
        resolve_profile(model, "H200", tp, "cluster.toml: instances[0]")

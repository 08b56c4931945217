"""The shipped profiles are what hexsim.profiles.shipped makes, and behave like engines."""

from dataclasses import astuple, replace
from pathlib import Path

import pytest

from hexsim.profiles.files import load_profile, profile_catalog
from hexsim.profiles.shipped import GPUS, MODELS, profile_file_name, shipped_profiles
from hexsim.resources import bundled_dir

STEPS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "measurements" / "step_latency_llama31_70b.csv"


def test_every_model_and_gpu_is_shipped():
    shipped = {(model, gpu) for model, gpu, _ in profile_catalog()}
    assert shipped == {(m, g) for m in MODELS for g in GPUS}


def test_shipped_files_are_regenerated():
    # To the last few bits only: BLAS builds differ in the rounding of the fits' linear algebra.
    if not STEPS.is_file():
        pytest.skip("the shared measurements are not beside this checkout")
    for profile in shipped_profiles(STEPS):
        path = bundled_dir("profiles") / "instances" / profile_file_name(profile)
        shipped = load_profile(path)
        assert replace(shipped, coefficients=profile.coefficients) == profile, path.name
        assert astuple(shipped.coefficients) == pytest.approx(astuple(profile.coefficients), rel=1e-12), path.name


@pytest.mark.parametrize("profile", list(profile_catalog().values()), ids=lambda p: f"{p.model}-{p.gpu}-tp{p.tp}")
def test_decode_grows_with_batch_and_context_and_prefill_is_superlinear(profile):
    c = profile.coefficients
    decode = [c.iteration_time(0, 0, n, n * ctx) for n in (1, 8, 64) for ctx in (500, 4000)]
    assert decode[0] < decode[1] and decode[2] < decode[3] and decode[0] < decode[2] < decode[4]
    times = [profile.prefill_time(t) for t in (1000, 2000, 4000)]
    assert times[1] - times[0] < times[2] - times[1]
    single_iteration = [c.iteration_time(t, t * t, 0, 0) - c.base for t in (1000, 2000)]
    assert single_iteration[1] > 2 * single_iteration[0]
    assert profile.provenance

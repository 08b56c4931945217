"""The profiles hexsim ships, and how they are made.

Llama-3.1-70B on A100-80GB, A6000 and L40S is calibrated to the HexGen-Text2SQL step
latencies (the roofline of the same configuration scaled by two fitted factors); every other
shipped configuration is roofline-derived. Regenerate from the repository root with

    python -m hexsim.profiles.shipped ../shared/data/measurements/step_latency_llama31_70b.csv
"""

import sys
from pathlib import Path

from hexsim.atomic import atomic_write_text
from hexsim.profiles.files import format_profile
from hexsim.profiles.gpus import gpu_table
from hexsim.profiles.latency import Profile
from hexsim.profiles.memory import smallest_tp
from hexsim.profiles.models import model_spec
from hexsim.profiles.roofline import STEP_LATENCY_MODEL, STEP_LATENCY_TP, default_efficiencies, roofline_profile
from hexsim.profiles.step_fit import calibrate_to_steps, read_step_latencies
from hexsim.resources import bundled_dir

MODELS = ("meta-llama/Llama-3.1-70B-Instruct", "meta-llama/Llama-3.1-8B-Instruct")
GPUS = ("A100-80GB", "H100-80GB", "A6000", "L40S", "A40", "L4")
# 8 x L4 holds Llama-3.1-70B with KV room for 83k tokens: short of one 128k context, so
# smallest_tp refuses it, but a deployment with --max-model-len 32768 runs.
EXPLICIT_TP = {("meta-llama/Llama-3.1-70B-Instruct", "L4"): 8}


def profile_file_name(profile: Profile) -> str:
    model = profile.model.split("/")[-1].lower()
    return f"{model}_{profile.gpu.lower()}_tp{profile.tp}.toml"


def shipped_profiles(step_latency_csv: str | Path) -> list[Profile]:
    steps = read_step_latencies(step_latency_csv)
    efficiencies = default_efficiencies()
    profiles = []
    for name in MODELS:
        model = model_spec(name, "shipped profiles")
        for gpu_name in GPUS:
            gpu = gpu_table()[gpu_name]
            measured = name == STEP_LATENCY_MODEL and gpu_name in STEP_LATENCY_TP
            tp = STEP_LATENCY_TP[gpu_name] if measured else EXPLICIT_TP.get((name, gpu_name)) or smallest_tp(model, gpu)
            profile = roofline_profile(model, gpu, tp, efficiencies)
            if measured:
                rows = [r for r in steps if r.gpu == gpu_name]
                provenance = (
                    f"Calibrated to the {len(rows)} HexGen-Text2SQL standalone step latencies of {name} on "
                    f"{gpu_name} (step_latency_llama31_70b.csv; TP {tp} inferred, see hexsim.profiles.roofline), "
                    f"by scaling the decode and prefill coefficients of this roofline profile: " + profile.provenance
                )
                profile = calibrate_to_steps(profile, rows, provenance)
            profiles.append(profile)
    return profiles


def write_shipped_profiles(step_latency_csv: str | Path, folder: Path) -> list[Path]:
    paths = []
    for profile in shipped_profiles(step_latency_csv):
        path = folder / profile_file_name(profile)
        atomic_write_text(path, format_profile(profile))
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_shipped_profiles(sys.argv[1], bundled_dir("profiles") / "instances"):
        print(written)

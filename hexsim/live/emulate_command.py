"""`hexsim emulate`: serve an engine emulator whose timing follows a profile."""

from argparse import Namespace

from hexsim.errors import InputError
from hexsim.live.emulator import serve
from hexsim.profiles.files import load_profile
from hexsim.profiles.gpus import canonical_gpu
from hexsim.profiles.resolve import resolve_profile


def run_emulate(args: Namespace) -> None:
    """Serve until interrupted the profile file given, or the one hexsim uses for --model on --gpu."""
    if not 1 <= args.port <= 65535:
        raise InputError("--port", f"expected a port number between 1 and 65535, got {args.port}")
    if args.profile:
        profile = load_profile(args.profile)
    elif args.model and args.gpu:
        profile = resolve_profile(args.model, canonical_gpu(args.gpu, "--gpu"), args.tp, "--model")
    else:
        raise InputError("emulate", "give --profile FILE, or --model and --gpu")
    serve(profile, args.served_model_name or profile.model, args.host, args.port)

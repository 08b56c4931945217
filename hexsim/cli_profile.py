"""Argument parsers of `hexsim profile ...` and `hexsim emulate`."""

import argparse


def add_profile_parser(sub, positive_int) -> None:
    p = sub.add_parser(
        "profile",
        help="latency profiles: fit, measure, validate, show, predict",
        description="Latency profiles of (model, GPU, TP) instances: fit them to measurements, measure a "
        "live engine, validate them against published measurements, derive them from GPU specs.",
    )
    psub = p.add_subparsers(dest="profile_command", required=True, metavar="{fit,import-splitwise}")
    f = psub.add_parser(
        "fit",
        help="fit a profile to a measurement CSV",
        description="Fit the iteration-time coefficients of a profile to hexsim's measurement CSV "
        "(phase,batch_size,prompt_tokens,context_tokens,time_s) by robust least squares, print the "
        "residuals and write the profile TOML.",
    )
    f.add_argument("file", metavar="MEASUREMENTS.csv", help="hexsim measurement CSV")
    f.add_argument("--model", required=True, help="model, by Hugging Face id or alias")
    f.add_argument("--gpu", required=True, help="GPU name or alias (see profiles/gpus.toml)")
    f.add_argument("--tp", type=positive_int, help="tensor-parallel degree (default: the smallest that fits)")
    f.add_argument("--out", required=True, metavar="PROFILE", help="output profile TOML")
    f.add_argument("--kv-tokens", type=positive_int, help="KV-cache capacity in tokens (default: from GPU memory)")
    f.add_argument("--token-budget", type=positive_int, help="max_num_batched_tokens (default: vLLM's for the GPU)")
    f.add_argument("--max-num-seqs", type=positive_int, help="max_num_seqs (default 256)")
    s = psub.add_parser(
        "import-splitwise",
        help="convert the Splitwise perf-model CSV to hexsim measurement CSVs",
        description="Split the Splitwise perf-model CSV into one hexsim measurement CSV per (model, "
        "hardware, TP): each row gives a prefill iteration (prompt_time) and a decode iteration (token_time).",
    )
    s.add_argument("file", metavar="SPLITWISE.csv")
    s.add_argument("--out-dir", required=True, metavar="DIR")


def dispatch_profile(args: argparse.Namespace, console, err) -> None:
    from hexsim.commands import profile

    if args.profile_command == "fit":
        profile.run_fit(args, console)
    elif args.profile_command == "import-splitwise":
        profile.run_import_splitwise(args, console)

"""Argument parsers of `hexsim profile ...` and `hexsim emulate`."""

import argparse
from functools import partial

from hexsim.cli_args import positive_int


def add_profile_parser(sub) -> None:
    p = sub.add_parser(
        "profile",
        help="latency profiles: fit, measure, validate, show, predict",
        description="Latency profiles of (model, GPU, TP) instances: fit them to measurements, measure a "
        "live engine, validate them against published measurements, derive them from GPU specs.",
    )
    psub = p.add_subparsers(
        dest="profile_command", required=True, metavar="{show,predict,fit,import-splitwise,measure,validate}"
    )
    show = psub.add_parser(
        "show",
        help="print a profile's coefficients, limits, curves and provenance",
        description="Print the profile hexsim uses for MODEL on GPU (a shipped file, else derived from the "
        "roofline): its coefficients, KV capacity and limits, prefill and decode curves, and where each "
        "number came from.",
    )
    show.add_argument("model", metavar="MODEL", help="Hugging Face id or alias, e.g. meta-llama/Llama-3.1-70B-Instruct")
    show.add_argument("gpu", metavar="GPU", help="GPU name or alias, e.g. A100, H100, L40")
    show.add_argument(
        "tp", metavar="TP", nargs="?", type=positive_int, help="tensor-parallel degree (default: smallest)"
    )
    pr = psub.add_parser(
        "predict",
        help="predicted latency of one call (or a batch of identical calls)",
        description="Predict the latency of a call with INPUT prompt tokens and OUTPUT generated tokens on an "
        "idle instance, split into prefill (to the first token) and decode. With --batch B, B identical calls "
        "arrive together and share the engine.",
    )
    pr.add_argument("--model", required=True, help="Hugging Face id or alias")
    pr.add_argument("--gpu", required=True, help="GPU name or alias")
    pr.add_argument("--tp", type=positive_int, help="tensor-parallel degree (default: the smallest that fits)")
    pr.add_argument("--input", required=True, type=positive_int, metavar="TOKENS", help="prompt tokens")
    pr.add_argument("--output", required=True, type=positive_int, metavar="TOKENS", help="generated tokens")
    pr.add_argument("--batch", type=positive_int, default=1, help="identical calls sent together (default 1)")
    pr.add_argument("--json", action="store_true", help="print JSON")
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
    s.add_argument("file", metavar="SPLITWISE.csv", help="Splitwise's perf-model CSV (splitwise_perf_model.csv)")
    s.add_argument(
        "--out-dir",
        required=True,
        metavar="DIR",
        help="folder for the CSVs, one per group, named MODEL_HARDWARE_tpN.csv (created if missing)",
    )
    m = psub.add_parser(
        "measure",
        help="time a live OpenAI-compatible engine into a measurement CSV",
        description="Run a controlled sweep (prompt lengths x batch sizes, prompts as token-id lists of exact "
        "length, max_tokens with ignore_eos, streamed) against an OpenAI-compatible vLLM endpoint and record "
        "prefill and per-token decode iteration times, for 'hexsim profile fit'.",
    )
    m.add_argument("--endpoint", required=True, metavar="URL", help="server root, e.g. http://127.0.0.1:8000")
    m.add_argument("--model", required=True, help="model name the server serves")
    m.add_argument("--gpu", required=True, help="GPU of the instance (recorded in the summary)")
    m.add_argument("--tp", type=positive_int, default=1, help="tensor-parallel degree of the instance (default 1)")
    m.add_argument("--out", required=True, metavar="CSV", help="output measurement CSV")
    m.add_argument(
        "--prompt-lengths",
        nargs="+",
        type=positive_int,
        default=[128, 1024, 3072],
        metavar="N",
        help="prompt lengths in tokens (default 128 1024 3072)",
    )
    m.add_argument(
        "--batch-sizes",
        nargs="+",
        type=positive_int,
        default=[1, 4, 8],
        metavar="N",
        help="requests sent together (default 1 4 8); keep batch x prompt within the token budget",
    )
    m.add_argument(
        "--output-tokens", type=positive_int, default=32, metavar="N", help="tokens each request generates (default 32)"
    )
    m.add_argument("--repeats", type=positive_int, default=1, metavar="N", help="sweeps to run (default 1)")
    v = psub.add_parser(
        "validate",
        help="profiles against the published measurements: error table and figure",
        description="Compare predictions with every row of the published measurements: the HexGen-Text2SQL "
        "step latencies (shipped profiles; roofline; roofline with that GPU left out of the fit) and "
        "Splitwise's llama2-70b iterations (free fit in sample; roofline with each batch size or TP left out; "
        "roofline).",
    )
    v.add_argument(
        "--data",
        default="../shared/data/measurements",
        metavar="DIR",
        help="folder with step_latency_llama31_70b.csv and splitwise_perf_model.csv "
        "(default ../shared/data/measurements)",
    )
    v.add_argument("--out", metavar="PNG", help="write a predicted-vs-measured figure")


def dispatch_profile(args: argparse.Namespace, console, err) -> None:
    from hexsim.commands import profile

    runners = {
        "fit": profile.run_fit,
        "import-splitwise": profile.run_import_splitwise,
        "validate": profile.run_validate,
        "show": profile.run_show,
        "predict": profile.run_predict,
        "measure": partial(_measure, err=err),
    }
    runners[args.profile_command](args, console)


def _measure(args: argparse.Namespace, console, err) -> None:
    from hexsim.profiles.measure_command import run_measure

    run_measure(
        args.endpoint,
        args.model,
        args.gpu,
        args.tp,
        args.out,
        args.prompt_lengths,
        args.batch_sizes,
        args.output_tokens,
        args.repeats,
        console,
        err,
    )


def add_emulate_parser(sub) -> None:
    p = sub.add_parser(
        "emulate",
        help="serve an OpenAI-compatible engine emulator whose timing follows a profile",
        description="Serve /v1/completions, /v1/models and /health like a vLLM server whose iterations take "
        "the time a profile says (continuous batching, chunked prefill): a stand-in for real engines in tests "
        "and demos. Give a profile file, or a model and GPU to use hexsim's profile for them.",
    )
    p.add_argument("--profile", metavar="FILE", help="profile TOML")
    p.add_argument("--model", help="model (with --gpu): use hexsim's profile for it")
    p.add_argument("--gpu", help="GPU name or alias (with --model)")
    p.add_argument("--tp", type=positive_int, help="tensor-parallel degree (with --model; default: smallest)")
    p.add_argument("--served-model-name", help="model name clients must ask for (default: the profile's model)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")

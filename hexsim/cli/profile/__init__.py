"""`hexsim profile ...`: latency profiles of (model, GPU, TP) instances, one module per subcommand."""

from hexsim.cli.profile import fit, import_splitwise, measure, predict, show, validate


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "profile",
        help="latency profiles: fit, measure, validate, show, predict",
        description="Latency profiles of (model, GPU, TP) instances: fit them to measurements, measure a "
        "live engine, validate them against published measurements, derive them from GPU specs.",
    )
    psub = p.add_subparsers(
        dest="profile_command", required=True, metavar="{show,predict,fit,import-splitwise,measure,validate}"
    )
    for command in (show, predict, fit, import_splitwise, measure, validate):
        command.add_parser(psub)

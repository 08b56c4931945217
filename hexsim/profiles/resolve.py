"""The profile of a (model, GPU, TP): a shipped file if there is one, else derived from the roofline."""

from hexsim.errors import InputError
from hexsim.names import find_named
from hexsim.profiles.files import profile_catalog
from hexsim.profiles.gpus import gpu_table
from hexsim.profiles.latency import Profile
from hexsim.profiles.memory import smallest_tp
from hexsim.profiles.models import model_spec, model_table
from hexsim.profiles.roofline import default_efficiencies, roofline_profile


def canonical_model(name: str) -> str:
    """The model table's name for `name` (an alias, any case); `name` itself for a model not in the table."""
    model = find_named(model_table().values(), name)
    return name if model is None else model.name


def resolve_profile(model: str, gpu: str, tp: int | None, where: str) -> Profile:
    """Shipped profile (the smallest shipped TP when `tp` is None), else the roofline (smallest TP that fits)."""
    name = canonical_model(model)
    catalog = profile_catalog()
    shipped = sorted((t, p) for (m, g, t), p in catalog.items() if m == name and g == gpu and tp in (None, t))
    if shipped:
        return shipped[0][1]
    if name not in model_table():
        have = ", ".join(sorted({m for m, _, _ in catalog} | set(model_table())))
        raise InputError(where, f"no profile for {model!r} and no architecture to derive one from (known: {have})")
    spec, gpu_spec = model_spec(name, where), gpu_table()[gpu]
    if tp is not None and spec.attention_heads % tp:
        raise InputError(where, f"tp={tp} does not divide the {spec.attention_heads} attention heads of {name}")
    return roofline_profile(spec, gpu_spec, tp or smallest_tp(spec, gpu_spec, where), default_efficiencies(), where)

"""Prefix models: the shared segments a trace's prompts start with, for traces that record only lengths.

A preset (TOML; `prefixes/chess.toml` is CHESS's, loaded by name or path) says, per step, how
many tokens its prompt template has before its first variable (one count per template
variant), whether a database schema comes next and which one, and how many tokens at the end
of each call are the call's own. `apply_prefix_model` then gives each call of a step the preset
knows the prefix

    template (step, variant)  ->  schema (schema, database)  ->  query (query, step, variant)

and leaves the rest of its input tokens its own. Steps the preset does not name get no prefix.

- **Variant**: within a stage, a step's calls ranked by input tokens (longest first, ties in
  stage order) take the variants in turn: the longest the first, the next the second, and so
  on, round again past the last. In the published CHESS traces every candidate stage is two
  calls exactly 3,866 tokens apart, the difference of the two templates.
- **Database**: traces do not say which database a query asks about, so query `id` goes to
  database `blake2b(seed, id) mod databases`: the same in every process, whatever the other
  queries of the trace.
- **Schema size** of a database, per schema: the largest every call of its queries can hold.
  For each call of a step with that schema (whose template fits), its input tokens minus its
  template and its own tokens; the schema is the smallest of these over the database's queries,
  less `question` tokens kept for the question and hint. So the size is inferred from the
  trace's spread of input lengths, and differs between traces.
- **Query segment** of a query, step and variant: what all those calls of the query have in
  common after the schema, less each call's own tokens: the smallest of their input tokens
  after template and schema, minus `own`. Parallel calls of one query then share all but their
  own last part; sequential ones (revise rounds) share template, schema and question.
- **Shrinking**: a call too short for a segment gets the first tokens of it that fit, as a
  segment of its own (key `KEY[:N]`: the model credits no sharing with the whole segment), and
  nothing after it. Segments of no tokens are left out. A call's prefix never exceeds its input.

Segment keys are `NAME/STEP/template` (`.../template-K` for variant K of several, from 1),
`NAME/schema/SCHEMA/dbD` (D from 0) and `NAME/query/ID/STEP` (`.../STEP/K` for a variant), NAME
the preset's file name without `.toml`.
"""

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from hexsim.errors import InputError, ParameterError
from hexsim.inputfile import shown
from hexsim.resources import bundled_dir
from hexsim.tomlfile import Table, read_toml
from hexsim.workload.fields import MAX_TOKENS
from hexsim.workload.model import Call, Query, Segment, Stage

NONE = "none"  # the --prefix-model value that strips prefixes
MAX_DATABASES = 1_000_000
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class StepPrefix:
    """How the prompts of one step start: `templates` fixed tokens per variant, then the `schema`
    named (if any), then a per-query segment (if `query`); the last `own` tokens are the call's."""

    templates: tuple[int, ...]
    schema: str | None = None
    query: bool = True
    own: int = 0


@dataclass(frozen=True)
class PrefixModel:
    name: str
    steps: dict[str, StepPrefix]
    databases: int = 1
    seed: int = 0
    question: int = 0
    description: str = ""

    def database(self, query_id: str) -> int:
        """The database query `query_id` asks about: a digest of the seed and the id, so any process agrees."""
        digest = hashlib.blake2b(f"{self.seed}\0{query_id}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little") % self.databases


# ---------------------------------------------------------------------------------------- loading


def preset_names() -> list[str]:
    return sorted(path.stem for path in bundled_dir("prefixes").glob("*.toml"))


def preset_path(spec: str | Path) -> Path:
    """A preset file: `spec` itself when it names a file (ends in .toml or has a folder), else the shipped
    preset of that name. ParameterError (`prefix_model`) for an unknown name."""
    text = str(spec)
    if isinstance(spec, Path) or text.lower().endswith(".toml") or "/" in text or "\\" in text:
        return Path(spec)
    path = bundled_dir("prefixes") / f"{text}.toml"
    if not _BARE_KEY.fullmatch(text) or not path.is_file():
        known = ", ".join(preset_names())
        raise ParameterError(
            "prefix_model", f"unknown prefix preset {shown(text)} (known: {known}, {NONE}; or a .toml file)"
        )
    return path


def load_prefix_model(spec: str | Path) -> PrefixModel:
    """The preset `spec` names: a shipped preset's name (`chess`) or a TOML file."""
    path = preset_path(spec)
    return parse_prefix_model(read_toml(path), path)


def _tokens(least: int):
    return lambda v: least <= v <= MAX_TOKENS


def _toml_key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_prefix_model(doc: dict, path: str | Path) -> PrefixModel:
    table = Table(doc, path)
    table.check_keys({"description", "databases", "seed", "question", "steps"})
    description = table.get("description", str, "")
    databases = table.get(
        "databases",
        int,
        1,
        check=lambda v: 1 <= v <= MAX_DATABASES,
        rule=f"a positive integer up to {MAX_DATABASES:,}",
    )
    seed = table.get("seed", int, 0, check=lambda v: 0 <= v, rule="a non-negative integer")
    question = table.get("question", int, 0, check=_tokens(0), rule=f"a number of tokens from 0 to {MAX_TOKENS:,}")
    steps_table = table.table("steps")
    steps = {}
    for name in steps_table.data:
        if not name.strip():
            raise steps_table.fail(name, "a step needs a name")
        step = Table(steps_table.data[name], path, f"steps.{_toml_key(name)}.")
        step.check_keys({"template", "schema", "query", "own"})
        steps[name] = StepPrefix(
            templates=_templates(step),
            schema=step.get("schema", str, None, check=lambda v: bool(v.strip()), rule="a non-empty name"),
            query=step.get("query", bool, True),
            own=step.get("own", int, 0, check=_tokens(0), rule=f"a number of tokens from 0 to {MAX_TOKENS:,}"),
        )
    name = Path(path).stem
    return PrefixModel(name, steps, databases, seed, question, description)


def _templates(step: Table) -> tuple[int, ...]:
    rule = f"a positive number of tokens up to {MAX_TOKENS:,}, or a list of them (one per template variant)"
    value = step.get("template", (int, list), rule=rule)
    if isinstance(value, int):
        value = step.get("template", int, check=_tokens(1), rule=rule)
        return (value,)
    if not value:
        raise step.fail("template", f"must be {rule}, got []")
    for i, count in enumerate(value):
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_TOKENS:
            raise InputError(step.path, f"key '{step.key('template')}[{i}]': must be {rule}, got {shown(count)}")
    return tuple(value)


# ---------------------------------------------------------------------------------------- applying


def strip_prefixes(queries: Sequence[Query]) -> list[Query]:
    """The queries with no prefix segments."""
    return [_with_prefixes(query, lambda query, k, i, call: ()) for query in queries]


def apply_prefix_model(queries: Sequence[Query], model: PrefixModel) -> list[Query]:
    """The queries with every call's prefix as `model` gives it (any prefix they carried replaced).

    Query ids must be unique: the per-query segments are named by them.
    """
    seen: set[str] = set()
    for query in queries:
        if query.id in seen:
            raise ParameterError("queries", f"query id {shown(query.id)} appears twice: ids must be unique")
        seen.add(query.id)
    variants = {query.id: _variants(query, model) for query in queries}
    schemas = _schema_sizes(queries, model, variants)
    shared = _query_sizes(queries, model, variants, schemas)

    def prefix(query: Query, k: int, i: int, call: Call) -> tuple[Segment, ...]:
        step = model.steps.get(call.step)
        if step is None:
            return ()
        v = variants[query.id][k, i]
        segments, budget = _fit(_template_key(model, call.step, step, v), step.templates[v], call.input_tokens)
        # A segment cut short leaves no budget: nothing follows it.
        if budget and step.schema is not None:
            database = model.database(query.id)
            key = f"{model.name}/schema/{step.schema}/db{database}"
            more, budget = _fit(key, schemas.get((step.schema, database), 0), budget)
            segments += more
        size = shared.get((query.id, call.step, v), 0)
        if budget and step.query and size:
            segments += (Segment(_query_key(model, query.id, call.step, step, v), size),)
        return segments

    return [_with_prefixes(query, prefix) for query in queries]


def _with_prefixes(query: Query, prefix) -> Query:
    stages = tuple(
        Stage(tuple(replace(call, prefix=prefix(query, k, i, call)) for i, call in enumerate(stage.calls)))
        for k, stage in enumerate(query.stages)
    )
    return replace(query, stages=stages)


def _fit(key: str, tokens: int, budget: int) -> tuple[tuple[Segment, ...], int]:
    """Segment `key` of `tokens` tokens in a prompt with `budget` tokens left: whole, its first `budget`
    tokens as a segment of their own, or nothing; and the budget after it."""
    if tokens <= 0 or budget <= 0:
        return (), budget
    if tokens <= budget:
        return (Segment(key, tokens),), budget - tokens
    return (Segment(f"{key}[:{budget}]", budget),), 0


def _template_key(model: PrefixModel, step_name: str, step: StepPrefix, v: int) -> str:
    return f"{model.name}/{step_name}/template" + (f"-{v + 1}" if len(step.templates) > 1 else "")


def _query_key(model: PrefixModel, query_id: str, step_name: str, step: StepPrefix, v: int) -> str:
    return f"{model.name}/query/{query_id}/{step_name}" + (f"/{v + 1}" if len(step.templates) > 1 else "")


def _variants(query: Query, model: PrefixModel) -> dict[tuple[int, int], int]:
    """(stage, index) -> template variant of each call of a step the model knows: within a stage, a
    step's calls by input tokens, longest first (ties in stage order), take the variants in turn."""
    found = {}
    for k, stage in enumerate(query.stages):
        for name in {call.step for call in stage.calls}:
            step = model.steps.get(name)
            if step is None:
                continue
            mine = [i for i, call in enumerate(stage.calls) if call.step == name]
            ranked = sorted(mine, key=lambda i: (-stage.calls[i].input_tokens, i))
            for rank, i in enumerate(ranked):
                found[k, i] = rank % len(step.templates)
    return found


def _calls(queries: Sequence[Query], model: PrefixModel, variants):
    """(query, call, step's prefix, variant) for every call of a step the model knows."""
    for query in queries:
        for k, stage in enumerate(query.stages):
            for i, call in enumerate(stage.calls):
                step = model.steps.get(call.step)
                if step is not None:
                    yield query, call, step, variants[query.id][k, i]


def _schema_sizes(queries: Sequence[Query], model: PrefixModel, variants) -> dict[tuple[str, int], int]:
    """(schema, database) -> tokens: over the calls of the database's queries that read the schema and
    hold their template, the least input left after template and own tokens, less `question`."""
    least: dict[tuple[str, int], int] = {}
    for query, call, step, v in _calls(queries, model, variants):
        if step.schema is None or call.input_tokens < step.templates[v]:
            continue
        key = (step.schema, model.database(query.id))
        room = call.input_tokens - step.templates[v] - step.own
        least[key] = min(least.get(key, room), room)
    return {key: max(0, room - model.question) for key, room in least.items()}


def _query_sizes(queries: Sequence[Query], model: PrefixModel, variants, schemas) -> dict[tuple[str, str, int], int]:
    """(query id, step, variant) -> tokens of its query segment: over those calls that hold their whole
    template and schema, the least input left after them, less the step's own tokens."""
    least: dict[tuple[str, str, int], int] = {}
    for query, call, step, v in _calls(queries, model, variants):
        if not step.query:
            continue
        schema = 0 if step.schema is None else schemas.get((step.schema, model.database(query.id)), 0)
        room = call.input_tokens - step.templates[v] - schema
        if room < 0:
            continue
        key = (query.id, call.step, v)
        least[key] = min(least.get(key, room), room)
    sizes = {}
    for (query_id, name, v), room in least.items():
        own = model.steps[name].own
        if room > own:
            sizes[query_id, name, v] = room - own
    return sizes


def with_prefix_model(queries: Sequence[Query], prefix_model: "str | Path | PrefixModel | None") -> list[Query]:
    """`queries` as `prefix_model` says: None leaves them as they are, `"none"` strips their prefixes,
    a preset (its name, its file or the model itself) gives them its prefixes."""
    if prefix_model is None:
        return list(queries)
    if isinstance(prefix_model, str) and prefix_model == NONE:
        return strip_prefixes(queries)
    model = prefix_model if isinstance(prefix_model, PrefixModel) else load_prefix_model(prefix_model)
    return apply_prefix_model(queries, model)

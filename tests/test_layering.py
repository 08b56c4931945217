"""What imports what: data does not know policies, the config does not need the registry, and
importing a module changes no process-wide state."""

import ast
import subprocess
import sys
from pathlib import Path

import hexsim


def imported_after(code: str) -> set[str]:
    run = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_the_workload_package_imports_nothing_of_the_scheduler():
    code = (
        "import pkgutil, importlib, hexsim.workload as w\n"
        "for m in pkgutil.iter_modules(w.__path__): importlib.import_module('hexsim.workload.' + m.name)"
    )
    assert not {m for m in imported_after(code) if m.startswith("hexsim.scheduler")}


def import_graph() -> dict[str, set[str]]:
    """hexsim module -> the hexsim modules it imports, at any depth of its code."""
    package = Path(hexsim.__file__).parent
    names = {
        ".".join(path.relative_to(package.parent).with_suffix("").parts).removesuffix(".__init__"): path
        for path in package.rglob("*.py")
    }
    graph = {}
    for name, path in names.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
        # A module's own packages are imported before it anyway: not an edge of a cycle.
        graph[name] = {t for t in targets if t in names and t != name and not name.startswith(f"{t}.")}
    return graph


def test_no_module_of_hexsim_imports_itself_through_others():
    graph = import_graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


def test_reading_a_dataset_csv_leaves_the_csv_field_limit_as_it_was(tmp_path):
    trace = tmp_path / "trace.csv"
    trace.write_text("Text2SQLRequest_id,step_name,input_length,output_length\nq1,revise,10,2\n")
    code = (
        "import csv\n"
        "before = csv.field_size_limit()\n"
        "from hexsim.workload.traces import load_trace\n"
        f"assert len(load_trace({str(trace)!r})) == 1\n"
        "assert csv.field_size_limit() == before, csv.field_size_limit()"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

"""`hexsim tune` end to end: the TOML it writes is the best trial's config, and bad input is one line."""

import optuna
import pytest

from hexsim.cli import main
from hexsim.resources import default_trace
from hexsim.scheduler.config_file import load_scheduler_config
from hexsim.tune.space import config_from_params
from hexsim.tune.storage import open_storage
from hexsim.workload.traces import load_trace, save_trace


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("trace") / "small.jsonl"
    save_trace(load_trace(default_trace())[:15], path)
    return str(path)


def test_written_config_is_the_best_trial(tmp_path, capsys, trace):
    out, storage = tmp_path / "tuned.toml", f"sqlite:///{tmp_path / 's.db'}"
    args = ["tune", "--trace", trace, "--trials", "9", "--seeds", "1", "--storage", storage, "--out", str(out)]
    assert main(args) == 0
    study = optuna.load_study(study_name="hexsim", storage=open_storage(storage))
    assert len(study.trials) == 9
    assert load_scheduler_config(out) == config_from_params(study.best_params, "hexgen")
    assert "Best of 9 trials" in capsys.readouterr().out
    # The first trials are the defaults (alpha 0.5) and the rest of the paper's alpha grid.
    assert [t.params["alpha"] for t in study.trials[:6]] == [0.5, 0.0, 0.1, 0.2, 0.3, 0.4]


def test_hexsim_is_tuned_over_its_own_weights_and_the_table_names_them(tmp_path, capsys, trace):
    out = tmp_path / "tuned.toml"
    args = ["tune", "--trace", trace, "--policy", "hexsim", "--trials", "3", "--seeds", "1", "--out", str(out)]
    assert main(args) == 0
    table = capsys.readouterr().out.split("wrote ")[0]
    weights = ("idle_weight", "eps", "batch_slowdown", "cache_weight", "kv_wait", "home_slack")
    assert all(name in table for name in weights)
    assert "alpha" not in table and load_scheduler_config(out).policy == "hexsim"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--storage", "redis://localhost"], "--storage: unknown storage 'redis://localhost'"),
        (["--storage", "journal:/no/such/folder/s.log"], "folder of journal file '/no/such/folder/s.log'"),
        (["--policy", "fifo"], "--policy: unknown policy 'fifo'"),
        (["--storage", "postgresql://hexsim:pw@127.0.0.1:9/nodb"], "cannot open postgresql://hexsim@127.0.0.1:9/nodb"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, monkeypatch, trace, args, expected):
    monkeypatch.chdir(tmp_path)
    assert main(["tune", "--trace", trace, "--trials", "2", *args]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1 and "pw" not in err
    assert list(tmp_path.iterdir()) == []

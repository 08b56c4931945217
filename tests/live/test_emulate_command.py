"""`hexsim emulate`: its errors."""

from pathlib import Path

from hexsim.cli import main


def test_emulate_command_rejects_a_bad_port_a_missing_profile_and_no_profile(tmp_path: Path, capsys):
    missing = str(tmp_path / "missing.toml")
    assert main(["emulate", "--profile", missing, "--port", "70000"]) == 2
    assert "--port: expected a port number between 1 and 65535, got 70000" in capsys.readouterr().err
    assert main(["emulate", "--profile", missing]) == 2
    assert f"{missing}: no such file" in capsys.readouterr().err
    assert main(["emulate", "--model", "Llama-3.1-70B"]) == 2
    assert "give --profile FILE, or --model and --gpu" in capsys.readouterr().err

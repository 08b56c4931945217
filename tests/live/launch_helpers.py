"""Running `hexsim launch` from tests: a heterogeneous cluster file, the launcher as a process
whose progress lines are read as they come, and checks that the processes it named are gone."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

HEXSIM = [sys.executable, "-m", "hexsim.cli"]
LLAMA = "meta-llama/Llama-3.1-70B-Instruct"
# The heterogeneous cluster: a100-0, a100-1, l40s, a6000 (in this order), then the gateway.
ENGINES = ["a100-0", "a100-1", "l40s", "a6000"]


def heterogeneous_cluster(folder: Path, ports: list[int]) -> Path:
    """Two A100 instances on GPUs the file names (tp 4), an L40S (tp 8) without prefix caching and
    with extra vLLM arguments, and an A6000 (tp 8) whose GPUs the launcher picks."""
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    path = folder / "cluster.toml"
    path.write_text(
        f'model = "{LLAMA}"\n'
        f'[[instances]]\ngpu = "A100"\nname = "a100"\ncount = 2\ntp = 4\nurls = ["{urls[0]}", "{urls[1]}"]\n'
        "gpus = [[4, 5, 6, 7], [0, 1, 2, 3]]\n"
        f'[[instances]]\ngpu = "L40S"\nname = "l40s"\nurl = "{urls[2]}"\nprefix_caching = false\n'
        'vllm_args = ["--enable-chunked-prefill", "--max-model-len", "32768"]\n'
        f'[[instances]]\ngpu = "A6000"\nname = "a6000"\nurl = "{urls[3]}"\n'
    )
    return path


class Launched:
    """A `hexsim launch` process and the lines it has written to stderr so far."""

    def __init__(self, process: subprocess.Popen):
        self.process = process
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.process.poll() is None, f"launch exited with {self.process.returncode}: {self.lines}"
            assert time.monotonic() < deadline, f"no {text!r} within {timeout} s: {self.lines}"
            time.sleep(0.05)

    def finish(self, timeout: float) -> int:
        status = self.process.wait(timeout)
        self._reader.join(5)
        return status

    @property
    def pids(self) -> dict[str, int]:
        """Each process the launcher said it started, by name."""
        found = (re.match(r"\s+(\S+)\s+\S+\s+pid (\d+)\s", line) for line in self.lines)
        return {m[1]: int(m[2]) for m in found if m}


@contextlib.contextmanager
def launched(args: list[str], cwd: Path) -> Iterator[Launched]:
    """`hexsim launch ARGS`; on the way out, whatever the test left running is killed: the
    launcher, then the process group of everything it said it started."""
    process = subprocess.Popen(
        [*HEXSIM, "launch", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    launch = Launched(process)
    try:
        yield launch
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        for pid in launch.pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def running(pid: int) -> bool:
    """Whether a process is there and not a zombie waiting for its parent to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"

"""A stand-in for `vllm serve` in the launcher's tests (`--engine-command "python fake_vllm.py"`).

It prints, as one JSON line, the arguments it got, its CUDA_VISIBLE_DEVICES and the PID of a
child it starts (as vLLM starts its engine core), then answers GET /health and GET /metrics
(vLLM's load gauges, for the gateway) on --host and --port. Options of its own: --exit N
(exit at once with status N), --never-healthy (answer /health with 503) and --ignore-sigterm,
all three for the engine on --only-port P alone when it is given.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

METRICS = b"vllm:num_requests_running 0\nvllm:num_requests_waiting 0\nvllm:kv_cache_usage_perc 0\n"

parser = argparse.ArgumentParser(allow_abbrev=False)
parser.add_argument("--exit", type=int)
parser.add_argument("--never-healthy", action="store_true")
parser.add_argument("--ignore-sigterm", action="store_true")
parser.add_argument("--only-port", type=int)
parser.add_argument("--host", required=True)
parser.add_argument("--port", type=int, required=True)
own, _ = parser.parse_known_args()
if own.only_port not in (None, own.port):
    own.exit, own.never_healthy, own.ignore_sigterm = None, False, False
if own.exit is not None:
    sys.exit(own.exit)
if own.ignore_sigterm:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
record = {"argv": sys.argv[1:], "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "child": child.pid}
print(json.dumps(record), flush=True)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/metrics":
            status, body = 200, METRICS
        elif self.path == "/health":
            status, body = (503 if own.never_healthy else 200), b""
        else:
            status, body = 404, b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


ThreadingHTTPServer((own.host, own.port), Handler).serve_forever()

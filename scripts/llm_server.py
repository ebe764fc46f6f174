#!/usr/bin/env python3
"""Launcher for the offline OpenAI-compatible test LLM server.

Started by scripts/llm-server inside target/llm-venv. It loads a GGUF model
with xllamacpp, whose `Server(params)` starts llama.cpp's native HTTP server
(OpenAI API: /v1/chat/completions, /v1/models, /health, ...) on a background
thread bound to params.hostnames/params.port. This process then just waits
until it gets SIGTERM/SIGINT.
"""

import argparse
import os
import signal
import sys
import threading


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True, help="path to the .gguf file")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18080)
    ap.add_argument("--alias", default="smollm2-135m-instruct",
                    help="model id reported by /v1/models")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ctx", type=int, default=4096)
    ap.add_argument("--n-predict", type=int, default=1024,
                    help="server-side cap on generated tokens per request")
    args = ap.parse_args()

    if not os.path.isfile(args.model):
        print(f"llm_server: model file not found: {args.model}", file=sys.stderr)
        return 2

    import xllamacpp as xlc

    p = xlc.CommonParams()
    p.model.path = args.model
    p.model_alias = {args.alias}
    p.hostnames = [args.host]
    p.port = args.port
    p.n_ctx = args.ctx
    p.n_parallel = 1
    p.n_predict = args.n_predict
    p.cpuparams.n_threads = args.threads
    p.cpuparams_batch.n_threads = args.threads
    p.n_threads_http = 4
    p.cache_ram_mib = 256
    p.offline = True
    p.fit_params = False  # CPU only: keep n_ctx as given, skip the extra probe load

    stop = threading.Event()

    def on_signal(signum, _frame):
        print(f"llm_server: got signal {signum}, exiting", flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        server = xlc.Server(p)  # loads the model and starts the HTTP thread
    except Exception as e:  # noqa: BLE001
        print(f"llm_server: failed to start: {e}", file=sys.stderr, flush=True)
        return 1

    print(f"llm_server: listening on {server.listening_address} "
          f"(model={args.model}, alias={args.alias}, pid={os.getpid()})", flush=True)

    while not stop.wait(1.0):
        pass
    sys.stdout.flush()
    sys.stderr.flush()
    # The native HTTP thread is not joinable from Python; leave at once.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())

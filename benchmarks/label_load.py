"""Issue 20's load check of the labelling API: N concurrent annotators label for S seconds over loopback
against a real ``rewardlab label serve`` process on a fresh SQLite store (WAL, ``synchronous=FULL``), or on
an empty database given by ``--db URL`` (PostgreSQL), and the latency of every request is recorded. The bar:
20 annotators for 60 s, p99 < 100 ms, no errors.

Run::

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/label_load.py --annotators 20 --seconds 60 [--db URL] [--out FILE.json]

Each annotator is a thread with its own httpx client doing ``GET /api/next`` then ``POST /api/label``
(a random choice) in a loop, optionally waiting ``--think`` seconds before answering as a person would
(people take seconds per comparison; 0 is a closed loop, far heavier); every annotator may get every query. The clients run on the same machine as
the server, so on a small machine they take CPU from it: the figures are an upper bound on the server's own
latency. Prints the requests, errors, throughput, p50 / p95 / p99 / max latency of each endpoint, the CPU
time per request of the server process and of the clients (less sensitive to a busy machine than latency), and
checks that the store holds exactly the labels acknowledged with 201.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy.engine import make_url

from rewardlab.data import Segment
from rewardlab.labeling import open_store

CHOICES = ("left", "right", "equal", "cant_tell", "skip")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(db: Path | str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    src = Path(__file__).resolve().parents[1] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "rewardlab", "label", "serve", "--db", str(db), "--port", str(port)]
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.get(f"{url}/api/next", timeout=1)
            return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the server did not start")


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds process ``pid`` has used so far (Linux's /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(annotators: int, seconds: float, queries: int, think: float = 0.0, db: str | None = None) -> dict:
    """Label for ``seconds`` with ``annotators`` threads, each waiting ``think`` seconds between a query
    and its answer (0: as fast as the server answers); return the figures. ``db``: the URL of an empty
    database to use instead of a fresh SQLite file (e.g. PostgreSQL's)."""
    store_at: Path | str = Path(tempfile.mkdtemp(prefix="label_load_")) / "labels.db" if db is None else db
    rng = np.random.default_rng(0)
    with open_store(store_at) as store:
        if store.counts()["queries"]:
            raise SystemExit(f"{db} holds queries already: pass an empty database")
        segments = store.add_segments(
            [Segment(rng.normal(size=(25, 3)), rng.normal(size=(25, 1))) for _ in range(100)], env_id="Pendulum-v1"
        )
        pairs = [tuple(int(x) for x in rng.choice(segments, 2, replace=False)) for _ in range(queries)]
        store.add_queries(pairs)  # type: ignore[arg-type]
        tokens = [store.add_annotator(f"annotator{k}") for k in range(annotators)]
    process, url = _start(store_at)
    lock = threading.Lock()
    times: dict[str, list[float]] = {"next": [], "label": []}
    errors: list[str] = []
    acknowledged = 0
    stop = time.monotonic() + seconds

    def annotate(k: int, token: str) -> None:
        nonlocal acknowledged
        choose = np.random.default_rng(k)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                got = client.get("/api/next")
                t1 = time.perf_counter()
                if got.status_code != 200 or got.json()["assignment"] is None:
                    with lock:
                        errors.append(f"next {got.status_code} {got.text[:200]}")
                    return
                waited = t1 - t0
                if think:
                    time.sleep(think)
                    t1 = time.perf_counter()
                posted = client.post("/api/label", json={"assignment": got.json()["assignment"], "choice": str(choose.choice(CHOICES))})
                t2 = time.perf_counter()
                with lock:
                    times["next"].append(waited)
                    times["label"].append(t2 - t1)
                    if posted.status_code == 201:
                        acknowledged += 1
                    else:
                        errors.append(f"label {posted.status_code} {posted.text[:200]}")

    threads = [threading.Thread(target=annotate, args=(k, t)) for k, t in enumerate(tokens)]
    server_cpu, client_cpu = _cpu_seconds(process.pid), _own_cpu_seconds()
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    server_after, client_cpu = _cpu_seconds(process.pid), _own_cpu_seconds() - client_cpu
    process.terminate()
    process.wait(timeout=30)
    with open_store(store_at) as store:
        stored = store.counts()["labels"]
    out: dict = {
        "database": "sqlite" if db is None else make_url(db).get_backend_name(),
        "annotators": annotators,
        "think_s": think,
        "seconds": round(wall, 1),
        "labels": acknowledged,
        "stored": stored,
        "errors": len(errors),
    }
    out["labels_per_s"] = round(acknowledged / wall, 1)
    requests = len(times["next"]) + len(times["label"])
    # CPU per request (GET /api/next and POST /api/label counted alike): a cost that contention on the
    # machine changes far less than latency; the server's own, and the load-making clients' (same machine).
    if server_cpu is not None and server_after is not None and requests:
        out["server_cpu_ms_per_request"] = round(1e3 * (server_after - server_cpu) / requests, 2)
    out["client_cpu_ms_per_request"] = round(1e3 * client_cpu / max(requests, 1), 2)
    for name, values in times.items():
        ms = np.asarray(values) * 1e3
        out[name] = {q: round(float(np.percentile(ms, p)), 1) for q, p in (("p50_ms", 50), ("p95_ms", 95), ("p99_ms", 99))}
        out[name]["max_ms"] = round(float(ms.max()), 1) if len(ms) else None
    out["first_errors"] = errors[:3]
    out["cpus"] = os.cpu_count()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--think", type=float, default=0.0, help="seconds each annotator waits before answering (0: none)")
    parser.add_argument("--queries", type=int, default=5000, help="queries in the store (each annotator may get all)")
    parser.add_argument("--db", default=None, help="an empty database's URL instead of a fresh SQLite file (postgresql+psycopg://...)")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args()
    figures = run(args.annotators, args.seconds, args.queries, args.think, args.db)
    print(json.dumps(figures, indent=2))
    if args.out is not None:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    ok = figures["errors"] == 0 and figures["stored"] == figures["labels"] and figures["label"]["p99_ms"] < 100
    print("PASS" if ok else "FAIL", "(bar: no errors, every acknowledged label stored, POST /api/label p99 < 100 ms)")


if __name__ == "__main__":
    main()

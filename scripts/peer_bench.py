#!/usr/bin/env python3
"""The peer for `aha bench`: the same work in PyTorch (Debian python3-torch, CPU), timed the same way.

Usage: /usr/bin/python3 scripts/peer_bench.py <suite>   with a JSON spec on stdin, JSON result on stdout.
Threads: OMP_NUM_THREADS (the bench passes its own thread count). If torch is missing, prints
{"error": "..."} and exits 0, so the bench can report peer: null with a note.

Suites (add one function per suite and one line in SUITES):
  gemm: spec {"cases": [[M, K, N], ...], "dtypes": ["fp32", "bf16"], "seconds": s}
        → {"rows": [{"case": "MxKxN", "dtype": ..., "gflops": ...}], "torch": version, "threads": n}
        a (M, K) times b stored (N, K) used transposed (the nn.Linear layout), fp32 or bf16 tensors.
"""
import json
import os
import sys
import time


def best_time(fn, seconds):
    fn()  # warm-up
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    iters = max(1, int(seconds / 3 / one))
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        best = min(best, (time.perf_counter() - t0) / iters)
    return best


def gemm(torch, spec):
    rows = []
    secs = float(spec.get("seconds", 1.0))
    for (m, k, n) in spec["cases"]:
        for dt in spec["dtypes"]:
            dtype = torch.float32 if dt == "fp32" else torch.bfloat16
            a = torch.rand(m, k).to(dtype)
            b = torch.rand(n, k).to(dtype)
            out = torch.empty(m, n, dtype=dtype)
            bt = b.t()
            t = best_time(lambda: torch.matmul(a, bt, out=out), secs)
            rows.append({"case": f"{m}x{k}x{n}", "dtype": dt, "gflops": 2.0 * m * n * k / t / 1e9})
    return {"rows": rows}


SUITES = {"gemm": gemm}


def main():
    suite = sys.argv[1] if len(sys.argv) > 1 else ""
    if suite not in SUITES:
        print(json.dumps({"error": f"unknown suite '{suite}' (have: {', '.join(SUITES)})"}))
        return
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means "no peer"
        print(json.dumps({"error": f"PyTorch not importable ({e}); install python3-torch"}))
        return
    threads = int(os.environ.get("OMP_NUM_THREADS", "2"))
    torch.set_num_threads(threads)
    spec = json.loads(sys.stdin.read() or "{}")
    with torch.no_grad():
        res = SUITES[suite](torch, spec)
    res["torch"] = torch.__version__
    res["threads"] = threads
    print(json.dumps(res))


if __name__ == "__main__":
    main()

"""What every benchmark shares: the machine's description, a timer, a table printer, the JSON file.

Timing on a shared machine. The figures that matter are RATIOS measured in one run (model step time
against the matrix products alone, NumPy against PyTorch), taken by alternating the two contenders in
rounds so that a burst of load from another process hits both. Each contender reports the minimum
over rounds (the least disturbed run: the best estimate of what the code costs) and the median (what
a user sees on this machine today). The load average at the start and the end is recorded with them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def parser(name: str, doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m benchmarks.{name}", description=doc.strip().splitlines()[0])
    p.add_argument("--out", default=str(RESULTS / f"{name}.json"), help="JSON result file (default: %(default)s)")
    p.add_argument("--threads", type=int, default=2, help="BLAS and Numba threads (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run, not for the README)")
    return p


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    """CPU, cores, library versions and the BLAS that NumPy actually calls (threadpoolctl)."""
    import numba
    from threadpoolctl import threadpool_info
    blas = [{k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads", "threading_layer")}
            for d in threadpool_info() if d.get("user_api") == "blas"]
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__, "blas": blas,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"), "platform": platform.platform()}


def setup(args) -> dict:
    """Set the thread counts (one call: BLAS and Numba) and return the run's header for the JSON."""
    from deepfm_np.threads import get_threads, set_threads
    set_threads(args.threads)
    return {"command": "python -m " + Path(sys.argv[0]).with_suffix("").name.join(["benchmarks.", ""])
            + "".join(" " + a for a in sys.argv[1:]) if sys.argv[0].endswith(".py") else " ".join(sys.argv),
            "threads": get_threads(), "machine": machine(), "load_start": loadavg(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}


def timeit(fn, repeat: int, number: int = 1) -> list[float]:
    """Seconds per call of fn(), `repeat` samples of `number` calls each."""
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        out.append((time.perf_counter() - t) / number)
    return out


def summary(samples) -> dict:
    s = np.asarray(samples, dtype=np.float64)
    return {"min": float(s.min()), "median": float(np.median(s)), "n": int(s.size)}


def table(rows: list[dict], cols: list[tuple[str, str, str]]) -> str:
    """Plain-text table: cols = (key, header, format)."""
    head = [h for _, h, _ in cols]
    body = [[(f.format(r[k]) if r.get(k) is not None else "-") for k, _, f in cols] for r in rows]
    w = [max(len(x) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(c.rjust(n) for c, n in zip(cells, w))   # noqa: E731
    return "\n".join([line(head), line(["-" * n for n in w])] + [line(b) for b in body])


def save(args, header: dict, payload: dict) -> None:
    header = dict(header, load_end=loadavg(), finished=time.strftime("%Y-%m-%d %H:%M:%S"))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**header, **payload}, indent=1, default=float) + "\n")
    print(f"\nload average {header['load_start']} -> {header['load_end']}; wrote {out}")

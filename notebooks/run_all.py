"""Execute every lesson top to bottom and fail on the first error (CI runs this).

    python notebooks/run_all.py                 # all lessons
    python notebooks/run_all.py 03 07           # lessons whose file name starts with 03 or 07

Each notebook runs in a fresh kernel with notebooks/ as its working folder.
The committed .ipynb files carry no outputs; nothing is written back, so a
run never dirties the work tree. Prints each lesson's wall time and exits 1
if any lesson fails or runs past its time budget.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = Path(__file__).resolve().parent
BUDGET_SECONDS = 180           # each lesson must run in under 3 minutes on 2 cores


def lessons(prefixes=()):
    paths = sorted(HERE.glob("[0-9][0-9]_*.ipynb"))
    return [p for p in paths if not prefixes or p.name.startswith(tuple(prefixes))]


def run(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(HERE)}})
    t0 = time.perf_counter()
    client.execute()
    return time.perf_counter() - t0


def main(argv):
    paths = lessons(argv)
    if not paths:
        print("no notebooks found", file=sys.stderr)
        return 1
    failed = []
    for p in paths:
        try:
            secs = run(p)
        except CellExecutionError as e:
            print(f"{p.name}: FAILED\n{e}", flush=True)
            failed.append(p.name)
            continue
        over = secs > BUDGET_SECONDS
        print(f"{p.name}: ran in {secs:.0f} s{'  (over the 3-minute budget)' if over else ''}", flush=True)
        if over:
            failed.append(p.name)
    print(f"notebooks: {len(paths) - len(failed)} passed, {len(failed)} failed" + (f": {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

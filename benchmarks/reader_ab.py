"""Criteo reader speed of this checkout against another git ref, in the same run (issue 10: no slow-down).

    python benchmarks/reader_ab.py                     # against `main`, a 200k-row synthetic file
    python benchmarks/reader_ab.py --ref HEAD~5 --rows 500000 --repeats 5

The ref's `deepfm_np/` is exported with `git archive` into a temporary
directory; each measurement is one pass of CriteoReader.chunks() in a fresh
child process, the two versions alternated so both see the same neighbours on
a shared machine. Reported: the best rows per CPU-second of each, and their
ratio. Also measured, this checkout only: the same rows with their trailing
empty fields stripped (the ragged path), and the same file gzipped; and the
libSVM reader on the same rows written as 39 index:value features, both versions.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time, warnings
from deepfm_np.data import CriteoReader, LibSVMReader
warnings.simplefilter("ignore")
t, c = time.perf_counter(), time.process_time()
if sys.argv[2] == "criteo":
    reader = CriteoReader(sys.argv[1])
else:                                   # libsvm: "single" exists in every version; "auto" adds its scan
    reader = LibSVMReader(sys.argv[1], fields=sys.argv[2].split(":")[1])
n = sum(len(ch) for ch in reader.chunks())
print(json.dumps({"rows": n, "wall": time.perf_counter() - t, "cpu": time.process_time() - c}))
"""


def run(pythonpath: Path, path: Path, what: str = "criteo") -> dict:
    env = dict(os.environ, PYTHONPATH=str(pythonpath))
    res = subprocess.run([sys.executable, "-c", CHILD, str(path), what], capture_output=True, text=True, env=env)
    if res.returncode:
        raise RuntimeError(res.stderr)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", default="main")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="deepfm_np_ab_"))
    try:
        base = work / "base"
        base.mkdir()
        tar = subprocess.run(["git", "-C", str(ROOT), "archive", args.ref, "deepfm_np"], capture_output=True,
                             check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=tar, check=True)
        sys.path.insert(0, str(ROOT))
        from benchmarks.data_memory import write_synthetic_criteo
        plain = work / "criteo.txt"
        write_synthetic_criteo(plain, args.rows)
        stripped = work / "stripped.txt"
        with open(plain) as src, open(stripped, "w") as dst:
            for line in src:
                dst.write(line.rstrip("\n").rstrip("\t") + "\n")
        packed = work / "criteo.txt.gz"
        with open(plain, "rb") as src, gzip.open(packed, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst)
        svm = work / "criteo.svm"                 # the same rows as libSVM: 39 features per row
        with open(plain) as src, open(svm, "w") as dst:
            for line in src:
                cells = line.rstrip("\n").split("\t")
                dst.write(cells[0] + " " + " ".join(f"{j * 100_000 + (hash(c) % 100_000)}:1"
                                                    for j, c in enumerate(cells[1:]) if c) + "\n")
        runs = {"ref": [], "head": [], "head_stripped": [], "head_gz": [], "svm_ref": [], "svm_head": [],
                "svm_head_auto": []}
        for _ in range(args.repeats):
            runs["ref"].append(run(base, plain))
            runs["head"].append(run(ROOT, plain))
            runs["head_stripped"].append(run(ROOT, stripped))
            runs["head_gz"].append(run(ROOT, packed))
            runs["svm_ref"].append(run(base, svm, "libsvm:single"))
            runs["svm_head"].append(run(ROOT, svm, "libsvm:single"))
            runs["svm_head_auto"].append(run(ROOT, svm, "libsvm:auto"))
        best = {k: max(r["rows"] / r["cpu"] for r in v) for k, v in runs.items()}
        n = runs["head"][0]["rows"]
        print(f"Criteo reader, {n:,} synthetic rows, best of {args.repeats}, rows per CPU-second:")
        print(f"  {args.ref:>12s}: {best['ref']:>10,.0f}")
        print(f"  {'this':>12s}: {best['head']:>10,.0f}   ratio this / {args.ref} = {best['head'] / best['ref']:.3f}")
        print(f"  {'stripped':>12s}: {best['head_stripped']:>10,.0f}   (trailing empty fields stripped; ratio "
              f"{best['head_stripped'] / best['head']:.3f} of plain)")
        print(f"  {'gzipped':>12s}: {best['head_gz']:>10,.0f}   (ratio {best['head_gz'] / best['head']:.3f} of plain)")
        print("libSVM reader, the same rows, rows per CPU-second:")
        print(f"  {args.ref:>12s}: {best['svm_ref']:>10,.0f}   (fields single)")
        print(f"  {'this':>12s}: {best['svm_head']:>10,.0f}   ratio this / {args.ref} = "
              f"{best['svm_head'] / best['svm_ref']:.3f}")
        print(f"  {'this, auto':>12s}: {best['svm_head_auto']:>10,.0f}   (with the --fields auto scan: ratio "
              f"{best['svm_head_auto'] / best['svm_ref']:.3f})")
        if args.json:
            args.json.write_text(json.dumps({"rows": n, "best_rows_per_cpu_s": best, "runs": runs,
                                             "ref": args.ref, "time": time.time()}, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

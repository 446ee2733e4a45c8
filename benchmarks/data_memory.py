"""Peak memory and speed of the streaming data path on synthetic Criteo-format files.

    python benchmarks/data_memory.py                  # 1M and 4M rows (about 1.3 GB of text in /tmp)
    python benchmarks/data_memory.py --rows 200000    # quick run; --json PATH writes the figures

For each size it writes a Criteo-format file of random rows (made-up values,
not real rows: 13 log-normal counts with 20% missing, 26 categorical fields
drawn from fixed per-field pools of 100..50,000 values, all of them seen
within the first 1M rows, so the vocabularies stop growing), then runs each stage in a fresh
child process and reports that process's peak resident memory
(resource.getrusage(RUSAGE_SELF).ru_maxrss):

    import   : baseline, only `import deepfm_np.data`
    parse    : one pass of CriteoReader.chunks()                 -> parsing rows/s
    stream   : count pass (Encoder.fit) + encode pass (build_cache) + one shuffled epoch of
               4096-row batches from the CachedDataset          -> rows/s of each part

If the streaming path is right, the peak RSS of `stream` is (nearly) the same
for 1M and 4M rows: it depends on the block sizes and the vocabularies, not on N.

    python benchmarks/data_memory.py --in-memory --rows 1000000   # fit + encode into memory (issue 14)

`--in-memory` measures, in a child process each, alternated, the two ways `train` reads a Criteo file
into memory: the two-pass path (fit_encoder, then encode) and the one-pass path (data/fused.py
fit_encode); peak RSS and wall/CPU seconds of each, and whether their idx/val/y agree (by checksum).

    python benchmarks/data_memory.py --wide           # one very wide row (issue 10)

`--wide` writes a libSVM file of 3,000 rows of 20 features plus ONE row of
20,000 features (and a libFFM file whose wide row spans 2,000 fields), then
reads, encodes and trains DeepFM for one epoch in a child process, once as
before (max_slots=None: every row padded to the widest) and once with the
default max_slots (the wide row skipped as a bad row with skip_bad_rows), and
reports each child's peak RSS and training samples/s - the ratio is what counts.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (getrusage ru_maxrss; Linux reports KiB).

    Linux carries ru_maxrss over fork+exec from the parent, so the parent of the
    measured children must stay small: it only starts processes, and the big
    synthetic file is generated in a child of its own.
    """
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---- synthetic file -----------------------------------------------------------------------
def write_synthetic_criteo(path: Path, n_rows: int, seed: int = 0, chunk: int = 200_000) -> None:
    """Random Criteo-format rows, written `chunk` rows at a time (the generator's memory is bounded too)."""
    rng = np.random.default_rng(seed)
    pool_sizes = np.geomspace(100, 50_000, 26).astype(np.int64)          # distinct values per C field
    pools = [[f"{(k * 1_000_003 + v * 2_654_435_761) & 0xFFFFFFFF:08x}" for v in range(size)]
             for k, size in enumerate(pool_sizes.tolist())]
    int_text = [str(v) for v in range(-3, 100_000)]                       # str(v) = int_text[v + 3]
    with open(path, "w") as f:
        for start in range(0, n_rows, chunk):
            m = min(chunk, n_rows - start)
            cols = [np.where(rng.random(m) < 0.25, "1", "0").tolist()]
            counts = np.minimum(np.floor(rng.lognormal(1.0, 1.8, (m, 13))), 99_996).astype(np.int64)
            counts[:, 1] -= rng.integers(0, 4, m)                         # I2 has small negatives
            missing = rng.random((m, 13)) < 0.2
            for j in range(13):
                col = [int_text[v + 3] for v in counts[:, j].tolist()]
                for i in np.flatnonzero(missing[:, j]).tolist():
                    col[i] = ""
                cols.append(col)
            for k in range(26):
                # half Zipf (a few very frequent values), half uniform over the pool, so that
                # by 1M rows every value has been seen: the vocabularies stop growing
                size = pool_sizes[k]
                pick = np.where(rng.random(m) < 0.5, np.minimum(rng.zipf(1.2, m) - 1, size - 1),
                                rng.integers(0, size, m))
                pool = pools[k]
                col = [pool[v] for v in pick.tolist()]
                for i in np.flatnonzero(rng.random(m) < 0.05).tolist():
                    col[i] = ""
                cols.append(col)
            f.write("\n".join(map("\t".join, zip(*cols))))
            f.write("\n")


# ---- the measured stages (each runs in a child process) --------------------------------------
class Clock:
    """Wall and CPU time since the last call. On a shared machine the wall-clock rate
    depends on the neighbours; rows per CPU-second is what the code itself achieves."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def rates(self, name: str, rows: int) -> dict:
        wall, cpu = time.perf_counter(), time.process_time()
        out = {f"{name}_rows_per_s": rows / (wall - self.wall),
               f"{name}_rows_per_cpu_s": rows / max(cpu - self.cpu, 1e-9)}
        self.wall, self.cpu = wall, cpu
        return out


def write_wide_libsvm(path: Path, ffm: bool, n_rows: int = 3000, width: int = 20, wide: int = 20_000,
                      seed: int = 0) -> None:
    """n_rows rows of `width` features (libSVM) or fields (libFFM), and at row 100 one row of `wide`."""
    rng = np.random.default_rng(seed)
    lines = []
    for r in range(n_rows + 1):
        w = wide if r == 100 else width
        feats = rng.integers(0, 50, w) + 50 * np.arange(w)               # feature j from its own range
        if ffm:
            body = " ".join(f"{j}:{k}:1" for j, k in enumerate(feats.tolist()))
        else:
            body = " ".join(f"{k}:1" for k in feats.tolist())
        lines.append(f"{int(rng.random() < 0.3)} {body}")
    path.write_text("\n".join(lines) + "\n")


def wide_child(path: str, mode: str) -> dict:
    """Read + encode + one DeepFM epoch of a wide-row file; mode "padded" (before) or "capped" (after)."""
    import warnings

    from deepfm_np.data import LibSVMReader, encode, fit_encoder
    from deepfm_np.data.dataset import ArrayDataset
    from deepfm_np.models.registry import build_model
    from deepfm_np.train import TrainConfig, train

    ffm = path.endswith(".ffm")
    kw = {"max_slots": None} if mode == "padded" else {"skip_bad_rows": True}
    reader = LibSVMReader(path, ffm=ffm, fields="single", **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = fit_encoder(reader, min_count=1)
        d = encode(reader, enc)
    ds = ArrayDataset(d.idx, d.val, d.y, d.layout, validate=False)
    model = build_model("deepfm", d.layout, embed_dim=10, hidden=(400, 400, 400), seed=0)
    res = train(model, ds, None, TrainConfig(epochs=1, batch_size=1024, progress=False))
    return {"rows": d.n, "skipped": reader.stats.skipped, "fields": d.layout.n_fields, "slots": d.layout.n_slots,
            "samples_per_s": res.samples_per_second, "peak_rss_mb": peak_rss_mb()}


def wide_main(work: Path) -> dict:
    results = {}
    for ext in ("svm", "ffm"):
        path = work / f"wide.{ext}"
        write_wide_libsvm(path, ffm=ext == "ffm", wide=20_000 if ext == "svm" else 2_000)
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        for mode in ("padded", "capped", "padded", "capped"):          # alternated: the machine is noisy
            res = subprocess.run([sys.executable, __file__, "--child", "wide", str(path), mode],
                                 capture_output=True, text=True, env=env)
            if res.returncode:
                raise RuntimeError(f"wide child failed:\n{res.stderr}")
            r = json.loads(res.stdout.strip().splitlines()[-1])
            results.setdefault(ext, {}).setdefault(mode, []).append(r)
        pad, cap = results[ext]["padded"], results[ext]["capped"]
        best = {m: max(x["samples_per_s"] for x in results[ext][m]) for m in ("padded", "capped")}
        rss = {m: max(x["peak_rss_mb"] for x in results[ext][m]) for m in ("padded", "capped")}
        print(f"lib{'svm' if ext == 'svm' else 'ffm'}, {pad[0]['rows']:,} rows, one of them wide: "
              f"padded to the widest (before): {pad[0]['slots']:,} slots, peak RSS {rss['padded']:.0f} MB, "
              f"{best['padded']:,.0f} samples/s;  max_slots {cap[0]['skipped']} row skipped (after): "
              f"{cap[0]['slots']:,} slots, peak RSS {rss['capped']:.0f} MB, {best['capped']:,.0f} samples/s  "
              f"(RSS ratio {rss['padded'] / rss['capped']:.1f}x, speed ratio "
              f"{best['capped'] / best['padded']:.1f}x)")
    return results


def child(stage: str, path: str, work: str) -> dict:
    from deepfm_np.data import CachedDataset, CriteoReader, Encoder, build_cache

    out = {"stage": stage}
    if stage == "generate":
        write_synthetic_criteo(Path(path), int(work))
        return out
    if stage == "wide":
        return {**out, **wide_child(path, work)}
    clock = Clock()
    if stage in ("two_pass", "one_pass"):
        import hashlib
        import warnings
        from deepfm_np.data import encode, fit_encoder
        from deepfm_np.data.fused import fit_encode
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if stage == "two_pass":
                reader = CriteoReader(path)
                enc = fit_encoder(reader, min_count=2)
                d = encode(reader, enc)
            else:
                enc, d = fit_encode(CriteoReader(path), min_count=2)
        out.update(clock.rates("read", d.n))
        digest = hashlib.sha256()
        for a in (d.idx, d.val, d.y):
            digest.update(np.ascontiguousarray(a).tobytes())
        out.update(rows=d.n, data_mb=(d.idx.nbytes + d.val.nbytes + d.y.nbytes) / 2 ** 20,
                   sha256=digest.hexdigest())
    elif stage == "parse":
        n = sum(len(c) for c in CriteoReader(path).chunks())
        out.update(rows=n, **clock.rates("parse", n))
    elif stage == "stream":
        reader = CriteoReader(path)
        enc = Encoder(reader.columns, min_count=2).fit(reader.chunks())
        out.update(clock.rates("count", enc.fit_rows))
        ds = build_cache(reader, enc, Path(work) / "cache")
        out.update(clock.rates("encode", ds.n))
        seen = 0
        for idx, val, y in CachedDataset(ds.directory).iter_batches(4096, np.random.default_rng(0),
                                                                    shuffle=True):
            seen += y.shape[0]
        out.update(clock.rates("epoch", seen))
        out.update(rows=ds.n, table_rows=enc.layout.n_rows,
                   cache_mb=sum(p.stat().st_size for p in ds.directory.iterdir()) / 2 ** 20)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def run_child(stage: str, path: Path, work: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if stage == "import":
        code = ("import resource, json, deepfm_np.data; "
                "print(json.dumps({'stage': 'import', 'peak_rss_mb': "
                "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))")
        cmd = [sys.executable, "-c", code]
    else:
        cmd = [sys.executable, __file__, "--child", stage, str(path), str(work)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode:
        raise RuntimeError(f"child {stage} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def in_memory(path: Path, work: Path, rounds: int = 2) -> dict:
    """Two-pass and one-pass fit + encode into memory, alternated, each in a fresh child process."""
    runs = {"two_pass": [], "one_pass": []}
    for _ in range(rounds):
        for stage in runs:
            runs[stage].append(run_child(stage, path, work))
    print(f"  {'fit + encode':16s} {'rows/s (wall)':>14s} {'rows/CPU-s':>12s} {'peak RSS MB':>12s}")
    for stage, rs in runs.items():
        print(f"  {stage:16s} {max(r['read_rows_per_s'] for r in rs):>14,.0f} "
              f"{max(r['read_rows_per_cpu_s'] for r in rs):>12,.0f} {max(r['peak_rss_mb'] for r in rs):>12.0f}")
    same = len({r["sha256"] for rs in runs.values() for r in rs}) == 1
    print(f"  (best of {rounds} rounds; the data itself is {runs['one_pass'][0]['data_mb']:.0f} MB; "
          f"idx/val/y identical: {same})")
    return {**runs, "identical": same}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 4_000_000])
    ap.add_argument("--dir", type=Path, default=None, help="work directory (default: a fresh temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    ap.add_argument("--wide", action="store_true", help="only the one-very-wide-row libSVM/libFFM measurement")
    ap.add_argument("--in-memory", action="store_true",
                    help="only the two-pass against the one-pass fit + encode into memory (Criteo)")
    ap.add_argument("--child", nargs=3, metavar=("STAGE", "FILE", "WORKDIR"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    if args.wide:
        work = args.dir or Path(tempfile.mkdtemp(prefix="deepfm_np_bench_"))
        work.mkdir(parents=True, exist_ok=True)
        try:
            results = {"wide": wide_main(work)}
        finally:
            if args.dir is None:
                shutil.rmtree(work, ignore_errors=True)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
        return 0

    work = args.dir or Path(tempfile.mkdtemp(prefix="deepfm_np_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    results = {"import": run_child("import", Path(), work)}
    print(f"baseline (import deepfm_np.data): peak RSS {results['import']['peak_rss_mb']:.0f} MB "
          f"(this parent process: {peak_rss_mb():.0f} MB)")
    try:
        for n in args.rows:
            path = work / f"criteo_{n}.txt"
            t = time.perf_counter()
            run_child("generate", path, n)                 # in a child: keeps this process small
            size_mb = path.stat().st_size / 2 ** 20
            print(f"\n{n:,} rows: wrote {size_mb:.0f} MB in {time.perf_counter() - t:.0f} s")
            if args.in_memory:
                results[str(n)] = {"file_mb": size_mb, **in_memory(path, work)}
                if not args.keep:
                    path.unlink()
                continue
            parse = run_child("parse", path, work)
            stream = run_child("stream", path, work)
            print(f"  {'':16s} {'rows/s (wall)':>14s} {'rows/CPU-s':>12s}")
            for name, key, res in (("parse only", "parse", parse), ("count pass", "count", stream),
                                   ("encode to cache", "encode", stream),
                                   ("shuffled epoch", "epoch", stream)):
                print(f"  {name:16s} {res[key + '_rows_per_s']:>14,.0f} {res[key + '_rows_per_cpu_s']:>12,.0f}")
            print(f"  peak RSS: parse only {parse['peak_rss_mb']:.0f} MB; count + encode + epoch "
                  f"{stream['peak_rss_mb']:.0f} MB (cache {stream['cache_mb']:.0f} MB, "
                  f"table {stream['table_rows']:,} rows)")
            results[str(n)] = {"file_mb": size_mb, "parse": parse, "stream": stream}
            shutil.rmtree(work / "cache", ignore_errors=True)
            if not args.keep:
                path.unlink()
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

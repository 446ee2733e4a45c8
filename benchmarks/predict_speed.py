"""Prediction rows/s: deepfm_np from a raw Criteo file and from encoded arrays, beside PyTorch and ONNX
Runtime running the exported model on the same rows, in alternating rounds of one run.

A Criteo-format file of --rows rows is written from the synthetic teacher (benchmarks.epoch_1m, not
timed); each model (default LR, FM, DeepFM in their default configurations) is trained on it for one
epoch by `python -m deepfm_np train` (not timed). The file is parsed once by the model file's reader
(not timed) into the columns a serving system would hold, and encoded into idx (N, S) int64 and
val (N, S) float32. Then, timed, every contender computes the N probabilities:

    file          `python -m deepfm_np predict` run in this process (deepfm_np.cli.main): load the model
                  file, read and parse the file, encode, predict, write one probability per line
    columns       deepfm_np from the parsed columns: Encoder.transform + Model.predict_proba
    arrays        deepfm_np from the encoded arrays: Model.predict_proba(idx, val)
    torch         PyTorch: deepfm_np.export.to_torch's module (eval mode, no_grad) on the same arrays
    ort_arrays    ONNX Runtime on deepfm_np.export.to_onnx(inputs="encoded"), the same arrays
    ort_columns   ONNX Runtime on to_onnx(inputs="raw") (the preprocessing is inside the graph), fed
                  the same parsed columns as `columns`: strings, float32 with NaN for missing

Every contender works in batches of --batch rows (the predict command's default, 8192; `predict` cuts
them within each chunk of its reader, so its float32 products may round differently) and runs on
--threads threads (default 1: BLAS and Numba, torch.set_num_threads / set_num_interop_threads, ONNX
Runtime's intra_op_num_threads and inter_op_num_threads). One untimed pass of each first (compilation,
first allocations; it also gives the probabilities compared). Then --rounds rounds, each running every
contender once, in reverse order every other round, so that a burst of load from another process hits
them all. A ratio A / B is B's time over A's in the same round (> 1: A has more rows/s); the JSON keeps
every round's ratio, and the report gives their median and their spread (min, max). The largest
|p - p_arrays| of each contender against deepfm_np's encoded-array probabilities is recorded with it.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import loadavg, parser, save, setup, table

CONTENDERS = ("file", "columns", "arrays", "torch", "ort_arrays", "ort_columns")
RATIOS = {"arrays_vs_torch": ("arrays", "torch"), "arrays_vs_ort": ("arrays", "ort_arrays"),
          "columns_vs_ort": ("columns", "ort_columns")}      # name: (A, B), A / B in rows/s


def main(argv=None):
    p = parser("predict_speed", __doc__)
    p.set_defaults(threads=1)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--batch", type=int, default=8192, help="rows per batch, every contender (default %(default)s)")
    p.add_argument("--models", default="lr,fm,deepfm", help="comma-separated registry names (default %(default)s)")
    args = p.parse_args(argv)
    header = setup(args)
    from benchmarks.epoch_1m import write_criteo_file
    from deepfm_np.cli import main as cli
    from deepfm_np.model_file import load_model

    n = 20_000 if args.quick else args.rows
    rounds = 2 if args.quick else args.rounds
    versions = {"torch": _torch_setup(args.threads), "onnxruntime": _ort_version()}
    th = str(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        data, out = tmp / "criteo.txt", tmp / "p.txt"
        write_criteo_file(data, n)
        for model in args.models.split(","):
            mfile = tmp / f"{model}.npz"
            _quiet(cli, ["train", "--format", "criteo", "--train", str(data), "--model", model, "--epochs", "1",
                         "--no-progress", "--threads", th, "--out", str(mfile)])
            saved = load_model(mfile)
            fns = _contenders(saved, data, mfile, out, args.batch, args.threads, versions, cli)
            probs = {k: f() for k, f in fns.items()}                # the untimed pass
            probs["file"] = np.loadtxt(out, dtype=np.float64)
            ref = probs["arrays"]
            t = {k: [] for k in fns}
            for r in range(rounds):
                for k in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
                    t0 = time.perf_counter()
                    fns[k]()
                    t[k].append(time.perf_counter() - t0)
            row = {"model": model, "rows": n,
                   "rows_per_s": {k: float(n / np.median(v)) for k, v in t.items()},
                   "seconds": {k: [float(x) for x in v] for k, v in t.items()},
                   "max_abs_diff": {k: float(np.max(np.abs(probs[k] - ref))) for k in fns if k != "arrays"},
                   "ratios": {}}
            for name, (a, b) in RATIOS.items():
                if a in t and b in t:
                    per = np.array(t[b]) / np.array(t[a])           # per round: A's rows/s over B's
                    row["ratios"][name] = {"median": float(np.median(per)), "min": float(per.min()),
                                           "max": float(per.max()), "rounds": [float(x) for x in per]}
            rows.append(row)
            print(f"{model}: " + ", ".join(f"{k} {v:,.0f}" for k, v in row["rows_per_s"].items())
                  + f" rows/s (load {loadavg()[:1]})", flush=True)
    print()
    flat = [{"model": r["model"], **r["rows_per_s"],
             **{k: v["median"] for k, v in r["ratios"].items()}} for r in rows]
    print(table(flat, [("model", "model", "{}")] + [(k, f"{k} rows/s", "{:,.0f}") for k in CONTENDERS]
                + [(k, k.replace("_vs_", " / "), "{:.2f}") for k in RATIOS]))
    save(args, header, {"benchmark": "predict_speed",
                        "config": {"rows": n, "rounds": rounds, "batch": args.batch, "threads": args.threads,
                                   "models": args.models.split(","), **versions},
                        "rows": rows})


def _contenders(saved, data, mfile, out, batch, threads, versions, cli):
    """{name: fn() -> probabilities (N,)} for one model; the ones whose library is missing are left out."""
    from deepfm_np.commands.options import open_data
    model, enc = saved.model, saved.encoder
    chunks = list(open_data(saved.reader, data).chunks())           # parsed once, not timed
    parsed = [_slice(c, s, s + batch) for c in [_join(chunks)] for s in range(0, len(c), batch)]
    parts = [enc.transform(c) for c in chunks]
    idx, val = np.concatenate([e.idx for e in parts]), np.concatenate([e.val for e in parts])
    N = len(idx)
    th = str(threads)

    def file():
        _quiet(cli, ["predict", "--model", str(mfile), "--input", str(data), "--output", str(out), "--threads", th])

    def columns():
        ps = []
        for c in parsed:                          # batch by batch: encode, then predict
            e = enc.transform(c)
            ps.append(model.predict_proba(e.idx, e.val, batch))
        return np.concatenate(ps)

    fns = {"file": file, "columns": columns, "arrays": lambda: model.predict_proba(idx, val, batch)}
    if versions["torch"]:
        import torch

        from deepfm_np.export import to_torch
        module = to_torch(saved).eval()

        def torch_():
            # set again every time: after deepfm_np's set_threads (which `predict` runs in this process)
            # torch.get_num_threads() can read 2, as numba and torch share the OpenMP runtime
            torch.set_num_threads(threads)
            p = np.empty(N, dtype=np.float64)
            for s in range(0, N, batch):
                p[s:s + batch] = module.predict_proba(idx[s:s + batch], val[s:s + batch])
            if torch.get_num_threads() != threads:
                raise RuntimeError(f"torch ran {torch.get_num_threads()} threads, not {threads}")
            return p
        fns["torch"] = torch_
    if versions["onnxruntime"]:
        import onnxruntime as ort

        from deepfm_np.export import to_onnx
        from deepfm_np.export.onnx_graph import ExportError
        so = ort.SessionOptions()
        so.intra_op_num_threads = so.inter_op_num_threads = threads
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL

        def session(inputs):
            return ort.InferenceSession(to_onnx(saved, inputs=inputs).SerializeToString(), so,
                                        providers=["CPUExecutionProvider"])

        def run(sess, feeds):
            return lambda: np.concatenate([sess.run(["probability"], f)[0] for f in feeds]).astype(np.float64)
        fns["ort_arrays"] = run(session("encoded"), [{"idx": idx[s:s + batch], "val": val[s:s + batch]}
                                                     for s in range(0, N, batch)])
        try:
            raw = session("raw")
        except ExportError as e:                  # a model whose preprocessing ONNX cannot express
            print(f"  no raw-input graph: {e}")
        else:
            fns["ort_columns"] = run(raw, [_feeds(c) for c in parsed])
    return fns


def _quiet(cli, argv):
    """Run a deepfm_np command in this process, its printed report kept out of the benchmark's."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        rc = cli(argv)
    if rc:
        raise SystemExit(f"`python -m deepfm_np {' '.join(argv)}` failed ({rc}): {err.getvalue().strip()}")


def _join(chunks):
    """The reader's chunks as one RawChunk (the columns keep the reader's forms)."""
    from deepfm_np.data.raw import PackedStrings, RawChunk
    cols = {}
    for name, first in chunks[0].columns.items():
        parts = [c.columns[name] for c in chunks]
        if isinstance(first, np.ndarray):
            cols[name] = np.concatenate(parts)
        elif isinstance(first, PackedStrings):
            cols[name] = PackedStrings(np.concatenate([x.keys for x in parts]))
        else:
            cols[name] = sum(parts, [])
    return RawChunk(chunks[0].path, np.concatenate([c.lines for c in chunks]), np.concatenate([c.y for c in chunks]),
                    cols)


def _slice(chunk, a, b):
    """Rows a..b-1 of a RawChunk."""
    from deepfm_np.data.raw import PackedStrings, RawChunk
    cols = {k: PackedStrings(v.keys[a:b]) if isinstance(v, PackedStrings) else v[a:b]
            for k, v in chunk.columns.items()}
    return RawChunk(chunk.path, chunk.lines[a:b], chunk.y[a:b], cols)


def _feeds(chunk):
    """A RawChunk as the raw-input graph's feeds: numbers float32 (NaN = missing), values as strings."""
    from deepfm_np.data.raw import PackedStrings
    out = {}
    for name, col in chunk.columns.items():
        if isinstance(col, np.ndarray):
            out[name] = col.astype(np.float32)
        else:
            out[name] = np.array(col.to_strings() if isinstance(col, PackedStrings) else col, dtype=object)
    return out


def _torch_setup(threads):
    """torch's version with its thread counts set, or None when torch is not installed."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:                          # already set (it can be set once per process)
        pass
    if (torch.get_num_threads(), torch.get_num_interop_threads()) != (threads, threads):
        raise SystemExit(f"torch runs {torch.get_num_threads()} intra-op and {torch.get_num_interop_threads()} "
                         f"inter-op threads, not {threads}: run the benchmark in a fresh process")
    return torch.__version__


def _ort_version():
    if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None:
        return None
    import onnxruntime
    return onnxruntime.__version__


if __name__ == "__main__":
    main()

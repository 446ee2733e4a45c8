"""onnxruntime against deepfm_np: parity and prediction throughput on the same rows, every model.

For each model of the registry (K = 10, 400-400-400, trained one epoch on the Criteo sample's train
split, or on synthetic Criteo-format rows when ../shared/data is absent), on the same N rows:

    parity       max |p_onnx - p_np| for the raw-input graph and the encoded graph
    encoded      rows/s of Model.predict_proba(idx, val) against the encoded ONNX graph
    raw          rows/s from the same parsed columns to probabilities: Encoder.transform on the
                 reader's own column forms (packed strings, float64) + predict_proba, against the
                 raw-input ONNX graph on strings and float32 with NaN (reading the file is excluded
                 from both)

Contenders alternate in rounds (common.py); the ratio ort/np is of the minimum times.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.common import parser, save, setup, summary, table, timeit

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "criteo_sample" / "train.txt"


def synthetic_criteo(path, n, seed=0):
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        for _ in range(n):
            ints = ["" if rng.random() < 0.2 else str(int(rng.integers(-2, 500))) for _ in range(13)]
            cats = ["" if rng.random() < 0.1 else f"{j * 7919 + int(rng.zipf(1.5)) % 5000:08x}" for j in range(26)]
            f.write("\t".join([str(int(rng.random() < 0.25))] + ints + cats) + "\n")


def main(argv=None):
    p = parser("predict_onnx", __doc__)
    p.add_argument("--models", default=None, help="comma-separated subset of the registry")
    args = p.parse_args(argv)
    header = setup(args)
    import onnxruntime as ort

    from deepfm_np.data import encode, fit_encoder, open_reader
    from deepfm_np.data.dataset import ArrayDataset
    from deepfm_np.data.raw import PackedStrings, RawChunk
    from deepfm_np.export import to_onnx
    from deepfm_np.model_file import SavedModel
    from deepfm_np.models.registry import build_model, model_names
    from deepfm_np.train import TrainConfig, train

    path = SAMPLE
    if not path.is_file():
        path = Path("/tmp/predict_onnx_criteo.txt")
        synthetic_criteo(path, 20000)
    reader = open_reader("criteo", path)
    enc = fit_encoder(reader, min_count=2)
    data = encode(reader, enc)
    chunks = list(reader.chunks())
    lib_cols, feeds = {}, {}                # the parsed columns: the library's own form, and ONNX's
    for name in chunks[0].columns:
        parts = [c.columns[name] for c in chunks]
        if isinstance(parts[0], np.ndarray):                  # numeric
            lib_cols[name] = np.concatenate(parts)
            feeds[name] = lib_cols[name].astype(np.float32)
        elif isinstance(parts[0], PackedStrings):             # the reader's packed strings (its fast path)
            lib_cols[name] = PackedStrings(np.concatenate([x.keys for x in parts]))
            feeds[name] = np.array(lib_cols[name].to_strings(), dtype=object)
        else:
            lib_cols[name] = sum(parts, [])
            feeds[name] = np.array(lib_cols[name], dtype=object)
    N = data.n
    raw_chunk = RawChunk(str(path), np.arange(1, N + 1), np.zeros(N, np.float32), lib_cols)
    ds = ArrayDataset(data.idx, data.val, data.y, data.layout, validate=False)
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = args.threads
    rounds = 2 if args.quick else 5
    names = args.models.split(",") if args.models else model_names()
    rows = []
    for name in names:
        model = build_model(name, enc.layout, seed=0)
        train(model, ds, None, TrainConfig(epochs=1, batch_size=1024, lr=1e-3, progress=False, patience=0))
        saved = SavedModel(model, enc, {"format": "criteo"}, {"model": {"name": name}})
        sess = {m: ort.InferenceSession(to_onnx(saved, inputs=m).SerializeToString(), so,
                                        providers=["CPUExecutionProvider"]) for m in ("raw", "encoded")}
        p_np = model.predict_proba(data.idx, data.val, 8192)
        fns = {
            "np_encoded": lambda: model.predict_proba(data.idx, data.val, 8192),
            "ort_encoded": lambda: sess["encoded"].run(["probability"], {"idx": data.idx, "val": data.val}),
            "np_raw": lambda: (lambda e: model.predict_proba(e.idx, e.val, 8192))(enc.transform(raw_chunk)),
            "ort_raw": lambda: sess["raw"].run(["probability"], feeds),
        }
        err = {m: float(np.abs(sess[m].run(["probability"], f)[0] - p_np).max())
               for m, f in (("raw", feeds), ("encoded", {"idx": data.idx, "val": data.val}))}
        t = {k: [] for k in fns}
        for _ in range(rounds):
            for k, f in fns.items():
                t[k] += timeit(f, 1)
        st = {k: summary(v) for k, v in t.items()}
        row = {"model": name, "rows": N, "max_abs_raw": err["raw"], "max_abs_encoded": err["encoded"],
               **{f"{k}_rows_per_s": N / st[k]["min"] for k in fns}, "timings": st}
        row["encoded_ratio"] = st["np_encoded"]["min"] / st["ort_encoded"]["min"]
        row["raw_ratio"] = st["np_raw"]["min"] / st["ort_raw"]["min"]
        rows.append(row)
        print(f"{name}: max|dp| raw {err['raw']:.2e} encoded {err['encoded']:.2e}; ort/np rows/s "
              f"encoded {row['encoded_ratio']:.2f}x, raw {row['raw_ratio']:.2f}x", flush=True)
    print()
    print(table(rows, [("model", "model", "{}"), ("max_abs_raw", "max|dp| raw", "{:.1e}"),
                       ("max_abs_encoded", "max|dp| enc", "{:.1e}"),
                       ("np_encoded_rows_per_s", "np enc rows/s", "{:,.0f}"),
                       ("ort_encoded_rows_per_s", "ort enc rows/s", "{:,.0f}"),
                       ("encoded_ratio", "ort/np enc", "{:.2f}"),
                       ("np_raw_rows_per_s", "np raw rows/s", "{:,.0f}"),
                       ("ort_raw_rows_per_s", "ort raw rows/s", "{:,.0f}"),
                       ("raw_ratio", "ort/np raw", "{:.2f}")]))
    save(args, header, {"data": str(path), "rows": N, "onnxruntime": ort.__version__, "results": rows})


if __name__ == "__main__":
    main()

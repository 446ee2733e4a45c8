"""One end-to-end DeepFM epoch on a 1M-row Criteo-format text file, reading included.

The file is written first (not timed) from the synthetic teacher (deepfm_np.experiments.synthetic), so its labels
carry signal: label, I1..I13 as integer counts (empty when missing), C1..C26 as 8-hex-digit strings
(empty for the teacher's out-of-vocabulary values). Then, timed:

    fit      one pass of the Criteo reader fitting the Encoder (vocabularies with min_count=2, buckets)
    encode   a second pass turning every line into idx/val/y in memory
    train    one shuffled epoch of DeepFM (paper configuration, batch 1024, Adam, float32)

and the total is the wall time from opening the file to the end of the epoch.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import parser, save, setup, table


def write_criteo_file(path: Path, n_rows: int, seed: int = 0, chunk: int = 100_000) -> int:
    """Write n_rows teacher rows as Criteo TSV; returns the file size in bytes."""
    from deepfm_np.experiments.synthetic import make_world
    world = make_world(seed)
    L, Fn = world.layout, world.n_numeric
    rng = np.random.default_rng([3, seed])
    with open(path, "w") as f:
        for start in range(0, n_rows, chunk):
            d = world.sample(min(chunk, n_rows - start), rng)
            local = d.idx - L.offsets                                       # (m, F) local ids
            cols = [np.where(d.y > 0, "1", "0")]
            for j in range(Fn):                                             # val = log1p(count)
                count = np.rint(np.expm1(d.val[:, j].astype(np.float64))).astype(np.int64).astype(str)
                cols.append(np.where(local[:, j] == 0, "", count))
            for j in range(Fn, L.n_fields):                                 # 8 hex digits per value
                h = (local[:, j] * 2_654_435_761 + j * 97_531) & 0xFFFFFFFF
                cols.append(np.where(local[:, j] == 0, "", np.char.zfill(np.char.mod("%x", h), 8)))
            lines = cols[0]
            for c in cols[1:]:
                lines = np.char.add(np.char.add(lines, "\t"), c)
            f.write("\n".join(lines.tolist()))
            f.write("\n")
    return path.stat().st_size


def main(argv=None):
    p = parser("epoch_1m", __doc__)
    p.add_argument("--rows", type=int, default=1_000_000)
    args = p.parse_args(argv)
    header = setup(args)
    from deepfm_np.data import encode, fit_encoder, open_reader
    from deepfm_np.data.dataset import ArrayDataset
    from deepfm_np.models.registry import build_model
    from deepfm_np.train import TrainConfig, train

    n = 100_000 if args.quick else args.rows
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "criteo_synthetic.txt"
        t = time.perf_counter()
        size = write_criteo_file(path, n)
        print(f"wrote {n:,} rows ({size / 2**20:.0f} MB) in {time.perf_counter() - t:.0f} s (not timed)", flush=True)

        t0 = time.perf_counter()
        reader = open_reader("criteo", path)
        enc = fit_encoder(reader, min_count=2)
        t1 = time.perf_counter()
        data = encode(reader, enc)
        t2 = time.perf_counter()
        ds = ArrayDataset(data.idx, data.val, data.y, data.layout, validate=False)
        model = build_model("deepfm", data.layout, embed_dim=10, hidden=(400, 400, 400), keep_prob=0.5, seed=0)
        res = train(model, ds, None, TrainConfig(epochs=1, batch_size=1024, lr=1e-3, seed=0, progress=False,
                                                 patience=0))
        t3 = time.perf_counter()
    row = {"rows": n, "file_mb": size / 2**20, "table_rows": data.layout.n_rows, "slots": data.layout.n_slots,
           "fit_s": t1 - t0, "encode_s": t2 - t1, "train_s": t3 - t2, "total_s": t3 - t0,
           "train_loop_s": res.train_seconds, "train_samples_per_s": res.samples_per_second,
           "read_rows_per_s": n / ((t1 - t0) + (t2 - t1)), "end_to_end_rows_per_s": n / (t3 - t0),
           "final_train_loss": res.history[-1]["train_loss"] if res.history else None}
    print(table([row], [("rows", "rows", "{:,}"), ("file_mb", "MB", "{:.0f}"), ("fit_s", "fit s", "{:.1f}"),
                        ("encode_s", "encode s", "{:.1f}"), ("train_s", "train s", "{:.1f}"),
                        ("total_s", "total s", "{:.1f}"), ("train_samples_per_s", "train samples/s", "{:,.0f}"),
                        ("end_to_end_rows_per_s", "end-to-end rows/s", "{:,.0f}")]))
    save(args, header, {"benchmark": "epoch_1m", "config": {"model": "deepfm", "batch": 1024, "min_count": 2,
                                                            "dtype": "float32"}, "rows": [row]})


if __name__ == "__main__":
    main()

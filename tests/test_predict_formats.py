"""predict --output in standard formats (issue 13 §4): text, .csv with the line column, .parquet (extra)."""
import csv

import numpy as np
import pytest

from deepfm_np.cli import main
from fixtures.faults import CSV, write_csv


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    d = tmp_path_factory.mktemp("predict_formats")
    write_csv(d / "train.csv", 400, seed=0)
    rows = write_csv(d / "test.csv", 60, seed=1).read_text().splitlines()
    rows.insert(10, "1,u1,i1,not-a-number")                 # a bad row: skipped, so lines have a gap
    (d / "test.csv").write_text("\n".join(rows) + "\n")
    assert main(["train", *CSV, "--model", "fm", "--epochs", "1", "--no-progress", "--embed-dim", "4",
                 "--train", str(d / "train.csv"), "--out", str(d / "m.npz")]) == 0
    return d


def _predict(d, out, *extra):
    assert main(["predict", "--model", str(d / "m.npz"), "--input", str(d / "test.csv"), "--output", str(out),
                 "--skip-bad-rows", *extra]) == 0


def test_csv_and_text_outputs_agree_and_csv_names_the_input_lines(d, tmp_path):
    _predict(d, tmp_path / "p.txt", "--line-numbers")
    _predict(d, tmp_path / "p.csv")
    text = [ln.split("\t") for ln in (tmp_path / "p.txt").read_text().splitlines()]
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 60 and list(rows[0]) == ["line", "probability"]
    assert [(r["line"], r["probability"]) for r in rows] == [tuple(t) for t in text]
    lines = [int(r["line"]) for r in rows]
    assert lines[:9] == list(range(2, 11)) and 11 not in lines and lines[9] == 12   # header: line 1; bad: 11
    p = np.array([float(r["probability"]) for r in rows])
    assert np.all((p > 0) & (p < 1))


def test_parquet_output_holds_the_same_numbers(d, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="the parquet extra (pyarrow) is not installed")
    _predict(d, tmp_path / "p.csv")
    _predict(d, tmp_path / "p.parquet")
    t = pq.read_table(tmp_path / "p.parquet")
    assert t.column_names == ["line", "probability"] and str(t.schema.field("line").type) == "int64"
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert t.column("line").to_pylist() == [int(r["line"]) for r in rows]
    assert t.column("probability").to_pylist() == [float(r["probability"]) for r in rows]   # bit for bit

"""The one-pass Criteo path (data/fused.py, data/criteo_kernels.py) against the two-pass path.

Every case compares, value for value: idx, val, y, the fitted Encoder's JSON state (vocabularies,
buckets, layout), EncodeStats, the reader's ReadStats (rows, skipped rows and their messages,
NaN/inf counts, repair notes), the warnings, and the error message of a bad file - and the kernels
against their NumPy twins.
"""
import warnings

import numpy as np
import pytest

from deepfm_np.data import CriteoReader, HoldoutReader, encode, fit_encoder
from deepfm_np.data.criteo_kernels import (gather_rows, gather_rows_numpy, intern_column, intern_column_numpy,
                                           parse_block, parse_block_numpy)
from deepfm_np.data.fused import fit_encode, fit_encode_splits, parse_file
from deepfm_np.errors import DataError
from fixtures.fake_data import criteo_rows, write_criteo


# ---- kernels and their twins ---------------------------------------------------------------------
def block_of(rows, newline="\n"):
    return ("".join("\t".join(r) + newline for r in rows)).encode()


def special_rows(seed=0):
    """Rows with the cases the kernel must read exactly: empty cells, "-0", 8 digits, short values."""
    rows = criteo_rows(300, seed=seed, missing=0.3)
    rows[0][1:14] = ["-0", "0", "-1", "99999999", "-99999999", "007", "", "", "1", "2", "3", "", "12345678"]
    rows[1][14:] = ["", "a", "ab", "abcdefgh", "x y", "\r", "~", "0", "A\rB"] + [""] * 17
    rows[2] = ["1"] + [""] * 39
    return rows


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("label", [True, False])
def test_parse_block_matches_the_reader(tmp_path, newline, label):
    rows = special_rows()
    if not label:
        rows = [r[1:] for r in rows]
    block = block_of(rows, newline) + newline.encode() + block_of(rows[:5], newline)   # a blank line
    reader = CriteoReader(tmp_path / "unused.txt", label=label)
    got = parse_block(block, label)
    assert got is not None
    want = parse_block_numpy(reader, block, 7)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert got[0].shape == (39, len(rows) + 5)
    assert got[2][len(rows)] == len(rows) + 1                  # line index after the blank line


@pytest.mark.parametrize("cell,column", [
    ("2.5", 5), ("1e3", 5), ("+3", 5), ("123456789", 5), ("-", 5), (" 4", 5), ("nan", 5),     # integers
    ("abcdefghi", 20), ("caf\u00e9", 20), ("x\0", 20),                                            # categorical
    ("2", 0), ("", 0), ("00", 0),                                                                  # label
])
def test_parse_block_leaves_what_it_does_not_read_to_the_reader(cell, column):
    rows = criteo_rows(20, seed=3)
    rows[11][column] = cell
    assert parse_block(block_of(rows), True) is None
    assert parse_block(block_of(rows[:11]), True) is not None


@pytest.mark.parametrize("row", [lambda r: r[:-1], lambda r: r + ["x"], lambda r: r[:20]])
def test_parse_block_leaves_ragged_rows_to_the_reader(row):
    rows = criteo_rows(20, seed=4)
    rows[5] = row(rows[5])
    assert parse_block(block_of(rows), True) is None


@pytest.mark.parametrize("n,distinct", [(0, 1), (1, 1), (1000, 3), (50_000, 20_000)])
def test_intern_column_matches_its_twin(n, distinct):
    rng = np.random.default_rng(n)
    pool = rng.integers(0, 2 ** 63, size=distinct, dtype=np.int64).astype(np.uint64) * np.uint64(2)
    pool[0] = 0
    keys = pool[rng.integers(0, distinct, size=n)]
    ids, d = intern_column(keys)
    tid, td = intern_column_numpy(keys)
    np.testing.assert_array_equal(ids, tid)
    np.testing.assert_array_equal(d, td)
    np.testing.assert_array_equal(d[ids], keys)
    small = np.empty(n, dtype=np.int32)                      # int32 ids, as fused.py keeps them
    intern_column(keys, out=small)
    np.testing.assert_array_equal(small, tid)
    inplace = keys.copy()                                    # the ids may overwrite the keys
    ids2, d2 = intern_column(inplace, out=inplace.view(np.int64))
    np.testing.assert_array_equal(inplace.view(np.int64), tid)
    np.testing.assert_array_equal(d2, td)


def test_gather_rows_matches_its_twin():
    rng = np.random.default_rng(0)
    C, N, D = 5, 200, 7
    ids = rng.integers(0, D, size=(C, N)).astype(np.int64)
    lut = rng.integers(0, 1000, size=C * D).astype(np.int64)
    vlut = rng.random(C * D).astype(np.float32)
    start = np.arange(C, dtype=np.int64) * D
    oov = (rng.random(C * D) < 0.3).astype(np.int64)
    rows = rng.integers(0, N, size=300)                      # repeats and any order
    idx = np.empty((300, C), dtype=np.int64)
    val = np.empty((300, C), dtype=np.float32)
    count = gather_rows(ids, rows, lut, start, vlut, oov, idx, val, 0, 150)
    count += gather_rows(ids[:, :], rows, lut, start, vlut, oov, idx, val, 150, 300)
    ti, tv, tc = gather_rows_numpy(ids, rows, lut, start, vlut, oov)
    np.testing.assert_array_equal(idx, ti)
    np.testing.assert_array_equal(val, tv)
    np.testing.assert_array_equal(count, tc)
    np.testing.assert_array_equal(gather_rows(ids.astype(np.int32), rows, lut, start, vlut, oov, idx, val), tc)
    np.testing.assert_array_equal(idx, ti)
    wide = np.zeros((C, N + 10), dtype=np.int64)             # ids as a view with a row stride > N
    wide[:, :N] = ids
    count2 = gather_rows(wide[:, :N], rows, lut, start, vlut, oov, idx, val)
    np.testing.assert_array_equal(idx, ti)
    np.testing.assert_array_equal(count2, tc)


# ---- the whole path against the two-pass path ------------------------------------------------------
def two_pass(path, config, **reader_kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reader = CriteoReader(path, **reader_kw)
        try:
            enc = fit_encoder(reader, **config)
            data = encode(reader, enc)
        except DataError as e:
            return ("error", str(e)), None
    return (enc, data), sorted({str(w.message) for w in caught})


def one_pass(path, config, threads=2, **reader_kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reader = CriteoReader(path, **reader_kw)
        try:
            enc, data = fit_encode(reader, threads=threads, **config)
        except DataError as e:
            return ("error", str(e)), None
    return (enc, data), sorted({str(w.message) for w in caught})


def assert_same(a, b):
    (ra, wa), (rb, wb) = a, b
    if ra[0] == "error" or rb[0] == "error":
        assert ra == rb
        return
    (ea, da), (eb, db) = ra, rb
    assert ea.to_dict() == eb.to_dict()
    assert ea.fit_rows == eb.fit_rows
    for name in ("idx", "val", "y"):
        x, y = getattr(da, name), getattr(db, name)
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)
    assert da.stats.to_dict() == db.stats.to_dict()
    assert da.read.to_dict() == db.read.to_dict()
    assert wa == wb


def rows_with_everything(n=400, seed=0):
    rows = criteo_rows(n, seed=seed, missing=0.3)
    rows[3][5] = "2.5"                                # a float
    rows[4][6] = "inf"                                # NaN/inf -> missing, one warning
    rows[5][20] = "a_value_longer_than_8_bytes"       # long categorical values
    rows[300][20] = "a_value_longer_than_8_bytes"
    rows[301][21] = "café"                            # UTF-8, not ASCII
    rows[200] = rows[200][:38]                        # trailing empty fields stripped: a repaired row
    rows[10][14:] = [""] * 26                         # every categorical value missing
    return rows


CONFIGS = [{"min_count": 2}, {"min_count": 1}, {"min_count": 3, "numeric": "value"}, {"hash_buckets": 50}]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("block_bytes", [300, 5000, 1 << 22])
def test_same_as_two_passes(tmp_path, config, block_bytes):
    path = write_criteo(tmp_path / "t.txt", rows_with_everything())
    assert_same(two_pass(path, config, block_bytes=block_bytes), one_pass(path, config, block_bytes=block_bytes))


@pytest.mark.parametrize("newline,final", [("\r\n", True), ("\n", False), ("\r\n", False)])
def test_line_ends(tmp_path, newline, final):
    path = write_criteo(tmp_path / "t.txt", criteo_rows(300, seed=5), newline=newline, final_newline=final)
    for bb in (700, 1 << 22):
        assert_same(two_pass(path, {}, block_bytes=bb), one_pass(path, {}, block_bytes=bb))


def test_blank_lines_and_one_thread(tmp_path):
    rows = criteo_rows(300, seed=6)
    text = "\n".join("\t".join(r) for r in rows[:100]) + "\n\n\r\n" + "\n".join("\t".join(r) for r in rows[100:])
    path = tmp_path / "t.txt"
    path.write_text(text)
    for threads in (1, 2, 3):
        assert_same(two_pass(path, {}, block_bytes=2000), one_pass(path, {}, threads=threads, block_bytes=2000))


def bad_rows():
    rows = criteo_rows(400, seed=7)
    rows[50][3] = "abc"                               # not a number
    rows[120][0] = "2"                                # bad label
    rows[250] = rows[250] + ["extra"]                 # too many columns
    rows[251] = rows[251][:5]                         # too few
    return rows


@pytest.mark.parametrize("block_bytes", [400, 1 << 22])
def test_bad_rows_raise_the_same_error(tmp_path, block_bytes):
    path = write_criteo(tmp_path / "t.txt", bad_rows())
    a = two_pass(path, {}, block_bytes=block_bytes)
    assert a[0][0] == "error" and "line 51" in a[0][1]
    assert_same(a, one_pass(path, {}, block_bytes=block_bytes))


@pytest.mark.parametrize("block_bytes", [400, 1 << 22])
def test_bad_rows_skipped_the_same_way(tmp_path, block_bytes):
    path = write_criteo(tmp_path / "t.txt", bad_rows())
    a = two_pass(path, {}, block_bytes=block_bytes, skip_bad_rows=True)
    assert a[0][1].read.skipped == 4
    assert_same(a, one_pass(path, {}, block_bytes=block_bytes, skip_bad_rows=True))


def test_bad_bytes_and_empty_files(tmp_path):
    rows = criteo_rows(100, seed=8)
    text = block_of(rows[:40]) + b"0\t\xff\xfe" + b"\t" * 38 + b"\n" + block_of(rows[40:])
    (tmp_path / "bytes.txt").write_bytes(text)
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.txt").write_bytes(b"\n\n\r\n")
    (tmp_path / "unlabeled.txt").write_bytes(block_of([r[1:] for r in rows]))
    for name in ("bytes.txt", "empty.txt", "blank.txt", "unlabeled.txt"):
        a = two_pass(tmp_path / name, {}, block_bytes=500)
        assert a[0][0] == "error"
        assert_same(a, one_pass(tmp_path / name, {}, block_bytes=500))
    assert_same(two_pass(tmp_path / "bytes.txt", {}, skip_bad_rows=True),
                one_pass(tmp_path / "bytes.txt", {}, skip_bad_rows=True))
    unlabeled = tmp_path / "unlabeled.txt"
    assert_same(two_pass(unlabeled, {}, label=False, block_bytes=700),
                one_pass(unlabeled, {}, label=False, block_bytes=700))


def test_gzip_file(tmp_path):
    import gzip
    rows = rows_with_everything(400, seed=9)
    path = tmp_path / "t.txt.gz"
    path.write_bytes(gzip.compress(block_of(rows)))
    assert_same(two_pass(path, {}, block_bytes=3000), one_pass(path, {}, block_bytes=3000))


def test_parse_file_grows_past_its_estimate(tmp_path, monkeypatch):
    import deepfm_np.data.fused as fused
    grown = []
    real = fused._Rows.grow
    monkeypatch.setattr(fused._Rows, "grow", lambda self, need: grown.append(need) or real(self, need))
    monkeypatch.setattr(fused, "_capacity", lambda reader, lines, text: 10)      # far too small
    rows = rows_with_everything(400, seed=10)
    path = write_criteo(tmp_path / "t.txt", rows)
    p = parse_file(CriteoReader(path, block_bytes=3000), threads=2)
    assert p.n == 400 and len(grown) > 3
    assert_same(two_pass(path, {}, block_bytes=3000), one_pass(path, {}, block_bytes=3000))


# ---- several splits, as `train` reads them -----------------------------------------------------------
def two_pass_splits(readers, config):
    train = readers["train"]
    enc = fit_encoder(train, **config)
    return enc, {name: encode(r, enc) for name, r in readers.items()}


@pytest.mark.parametrize("stratified", [True, False])
def test_holdout_and_other_files(tmp_path, stratified):
    train = write_criteo(tmp_path / "train.txt", rows_with_everything(600, seed=12))
    test = write_criteo(tmp_path / "test.txt", criteo_rows(200, seed=13, n_values=40))   # unseen values: OOV

    def readers():
        return {"train": HoldoutReader(CriteoReader(train, block_bytes=3000), 0.2, 3, "train", stratified),
                "valid": HoldoutReader(CriteoReader(train, block_bytes=3000), 0.2, 3, "valid", stratified),
                "test": CriteoReader(test, block_bytes=1000)}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a_readers, b_readers = readers(), readers()
        ea, da = two_pass_splits(a_readers, {"min_count": 2})
        eb, db = fit_encode_splits(b_readers["train"], b_readers, min_count=2)
    assert ea.to_dict() == eb.to_dict()
    for name in da:
        for field in ("idx", "val", "y"):
            np.testing.assert_array_equal(getattr(da[name], field), getattr(db[name], field))
        assert da[name].stats.to_dict() == db[name].stats.to_dict()
        assert a_readers[name].stats.to_dict() == b_readers[name].stats.to_dict()
    assert db["test"].stats.oov_rate > 0


def test_empty_holdout_part_is_refused_the_same_way(tmp_path):
    path = write_criteo(tmp_path / "t.txt", criteo_rows(3, seed=14))
    msgs = []
    for fused in (False, True):
        rs = {"train": HoldoutReader(CriteoReader(path), 0.01, 0, "train"),
              "valid": HoldoutReader(CriteoReader(path), 0.01, 0, "valid")}
        with pytest.raises(DataError) as e:
            if fused:
                fit_encode_splits(rs["train"], rs)
            else:
                two_pass_splits(rs, {})
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1] and "valid part" in msgs[0]


# ---- the command line takes the one-pass path, with the same output -----------------------------------
SMALL = ["--epochs", "1", "--batch-size", "64", "--embed-dim", "4", "--hidden", "8", "--no-progress",
         "--threads", "1", "--lr", "0.01"]


@pytest.mark.parametrize("split", ["holdout", "files"])
def test_train_command_same_with_and_without_the_one_pass_path(tmp_path, monkeypatch, capsys, split):
    import json
    import deepfm_np.data.fused as fused
    from deepfm_np.cli import main
    rows = rows_with_everything(700, seed=15)
    rows[650][2] = "x"                                 # a bad row, skipped
    write_criteo(tmp_path / "train.txt", rows[:600])
    write_criteo(tmp_path / "valid.txt", rows[600:])
    files = ["--valid", str(tmp_path / "valid.txt"), "--test", str(tmp_path / "valid.txt")] if split == "files" else []
    calls = []
    real = fused.fit_encode_splits
    monkeypatch.setattr(fused, "fit_encode_splits", lambda *a, **k: calls.append(1) or real(*a, **k))
    outs = {}
    for one_pass in (True, False):
        if not one_pass:
            monkeypatch.setattr(fused, "fast_reader", lambda r: False)
        out = tmp_path / f"m{one_pass}.npz"
        rc = main(["train", "--format", "criteo", "--train", str(tmp_path / "train.txt"), *files, "--model", "fm",
                   "--out", str(out), "--json", str(tmp_path / f"{one_pass}.json"), "--skip-bad-rows", *SMALL])
        assert rc == 0
        captured = capsys.readouterr()
        text = captured.out + captured.err
        res = json.loads((tmp_path / f"{one_pass}.json").read_text())
        for k in ("train_seconds", "train_cpu_seconds", "samples_per_second", "out"):
            res.pop(k)
        for h in res["history"]:
            h.pop("seconds", None)
        outs[one_pass] = (res, np.load(out, allow_pickle=False), [l for l in text.splitlines()
                                                                  if not l.startswith(("data:", "trained"))])
    assert calls == [1]                                # the first run took the one-pass path, the second not
    (ra, za, ta), (rb, zb, tb) = outs[True], outs[False]
    assert json.dumps(ra, sort_keys=True) == json.dumps(rb, sort_keys=True)
    assert ta == tb
    assert sorted(za.files) == sorted(zb.files)
    for k in za.files:
        if za[k].dtype == np.uint8:                    # the JSON parts of the model file
            assert scrub(json.loads(za[k].tobytes())) == scrub(json.loads(zb[k].tobytes()))
        else:
            np.testing.assert_array_equal(za[k], zb[k])


TIMES = {"train_seconds", "train_cpu_seconds", "samples_per_second", "seconds", "out", "created", "time"}


def scrub(x):
    """A model file's JSON without wall-clock figures and output names (the runs differ only there)."""
    if isinstance(x, dict):
        return {k: scrub(v) for k, v in x.items() if k not in TIMES}
    if isinstance(x, list):
        return [scrub(v) for v in x]
    return x


TRICKY = ["", "-", "-0", "0", "00", "1.5", " 7", "+1", "nan", "inf", "99999999", "123456789", "-99999999",
          "abcdefgh", "abcdefghi", "\u00e9", "a\rb", "\r", "x y", "2", "1"]


@pytest.mark.parametrize("seed", range(6))
def test_random_damage_same_as_two_passes(tmp_path, seed):
    """Random cells replaced by tricky text, rows cut or extended, blank lines and CRLF mixed in."""
    rng = np.random.default_rng(seed)
    rows = criteo_rows(300, seed=100 + seed, missing=0.25)
    lines = []
    for r in rows:
        r = list(r)
        if rng.random() < 0.05:
            r[int(rng.integers(0, 40))] = TRICKY[int(rng.integers(len(TRICKY)))]
        u = rng.random()
        if u < 0.01:
            r = r[:int(rng.integers(14, 40))]
        elif u < 0.015:
            r = r + ["extra"]
        end = "\r\n" if rng.random() < 0.3 else "\n"
        lines.append("\t".join(r) + end + ("\n" if rng.random() < 0.02 else ""))
    path = tmp_path / "t.txt"
    path.write_bytes("".join(lines).encode()[:-1 if seed % 2 else None])       # odd seeds: no final newline
    for skip in (False, True):
        for bb in (1500, 1 << 22):
            for config in ({"min_count": 2}, {"numeric": "value", "min_count": 1}):
                assert_same(two_pass(path, config, block_bytes=bb, skip_bad_rows=skip),
                            one_pass(path, config, block_bytes=bb, skip_bad_rows=skip))


def test_other_readers_are_refused(tmp_path):
    from deepfm_np.data import LibSVMReader
    path = tmp_path / "t.svm"
    path.write_text("1 3:1 5:2\n0 2:1\n")
    with pytest.raises(ValueError, match="one-pass path reads Criteo"):
        fit_encode(LibSVMReader(path))

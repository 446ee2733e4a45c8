"""Files as they come (issue 10 §3): compressed, with a BOM, stripped trailing fields, a header in one
file only, a very wide row, repeated features, unseen MovieLens ids, and why rows were skipped.

Every file here is written by the test (made-up rows; nothing copied from real data).
"""
import bz2
import gzip
import lzma
import shutil
import warnings

import numpy as np
import pytest

from deepfm_np.cli import main
from deepfm_np.data import (CriteoReader, CsvReader, CsvSchema, DataError, LibSVMReader, MovieLensReader, encode,
                            fit_encoder)
from deepfm_np.data.fastparse import split_delimited
from deepfm_np.data.libsvm import auto_fields, features_per_row
from deepfm_np.data.raw import MAX_SLOTS, iter_line_blocks, line_bounds
from deepfm_np.model_file import load_model
from fixtures.fake_data import FAKE_ML100K, criteo_rows, write_criteo

SMALL = ["--epochs", "1", "--batch-size", "64", "--embed-dim", "4", "--hidden", "8", "--no-progress",
         "--threads", "1", "--lr", "0.01"]


def _read(reader):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(reader.chunks())


def _flat(chunks) -> dict:
    """All rows of a list of chunks as flat arrays (so files cut into blocks differently compare equal)."""
    out = {"lines": [c.lines for c in chunks], "y": [c.y for c in chunks]}
    for c in chunks:
        for name, col in c.columns.items():
            if hasattr(col, "keys"):                                       # PackedStrings
                parts = {name: col.keys}
            elif hasattr(col, "indptr"):                                   # TokenLists / SparseEntries
                parts = {f"{name}.len": np.diff(col.indptr)}
                for f in ("features", "values", "fields"):
                    if hasattr(col, f):
                        parts[f"{name}.{f}"] = getattr(col, f)
                if hasattr(col, "tokens"):
                    parts[f"{name}.tokens"] = np.asarray(col.tokens, dtype=object)
            else:
                parts = {name: np.asarray(col)}
            for k, v in parts.items():
                out.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in out.items()}


def _same_chunks(a, b):
    fa, fb = _flat(a), _flat(b)
    assert sorted(fa) == sorted(fb)
    for k in fa:
        np.testing.assert_array_equal(fa[k], fb[k], err_msg=k)


# ---- compressed files -------------------------------------------------------------------------
OPENERS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}


@pytest.mark.parametrize("ext", sorted(OPENERS))
def test_compressed_files_read_like_the_plain_file(tmp_path, ext):
    plain = write_criteo(tmp_path / "t.txt", criteo_rows(300, seed=1))
    packed = tmp_path / f"t.txt{ext}"
    packed.write_bytes(OPENERS[ext](plain.read_bytes()))
    _same_chunks(_read(CriteoReader(plain, block_bytes=4096)), _read(CriteoReader(packed, block_bytes=4096)))
    svm = tmp_path / "s.svm"
    svm.write_text("".join(f"{i % 2} {i % 7}:1 {10 + i % 5}:0.5\n" for i in range(50)))
    svm_packed = tmp_path / f"s.svm{ext}"
    svm_packed.write_bytes(OPENERS[ext](svm.read_bytes()))
    _same_chunks(_read(LibSVMReader(svm)), _read(LibSVMReader(svm_packed)))


@pytest.mark.parametrize("ext", sorted(OPENERS))
def test_compressed_bytes_under_a_plain_name_say_that_extension_matters(tmp_path, ext):
    plain = write_criteo(tmp_path / "t.txt", criteo_rows(5, seed=2))
    wrong = tmp_path / "t2.txt"
    wrong.write_bytes(OPENERS[ext](plain.read_bytes()))
    with pytest.raises(DataError, match=rf"t2.txt: this is \w+-compressed data, but compressed input is read by "
                                        rf"extension: name the file \*{ext}"):
        list(CriteoReader(wrong).chunks())


def test_bad_compressed_data_is_one_clear_error(tmp_path):
    plain = write_criteo(tmp_path / "t.txt", criteo_rows(400, seed=3))
    (tmp_path / "p.gz").write_bytes(plain.read_bytes())                    # plain text named .gz
    with pytest.raises(DataError, match=r"p.gz: cannot read gzip file"):
        list(CriteoReader(tmp_path / "p.gz").chunks())
    data = gzip.compress(plain.read_bytes())
    (tmp_path / "cut.gz").write_bytes(data[:len(data) // 2])              # truncated download
    with pytest.raises(DataError, match=r"cut.gz: cannot read gzip file"):
        list(CriteoReader(tmp_path / "cut.gz").chunks())
    (tmp_path / "BZh.csv").write_text("BZh,y\na,1\nb,0\n")                  # text that starts like bzip2
    assert len(_read(CsvReader(tmp_path / "BZh.csv", CsvSchema.from_options("y", categorical="BZh")))[0]) == 2


# ---- byte-order mark ----------------------------------------------------------------------------
def test_a_utf8_bom_is_dropped_in_every_format(tmp_path):
    bom = b"\xef\xbb\xbf"
    plain = write_criteo(tmp_path / "t.txt", criteo_rows(20, seed=4))
    (tmp_path / "b.txt").write_bytes(bom + plain.read_bytes())
    _same_chunks(_read(CriteoReader(plain)), _read(CriteoReader(tmp_path / "b.txt")))
    for block in (3, 5, 64):                                  # a BOM cut by the first read is still found
        first = next(iter_line_blocks(tmp_path / "b.txt", block))[1]
        assert first == plain.read_bytes().split(b"\n")[0] + b"\n"
    (tmp_path / "b.svm").write_bytes(bom + b"1 3:1\n0 4:1\n")
    assert _read(LibSVMReader(tmp_path / "b.svm"))[0].y.tolist() == [1.0, 0.0]
    (tmp_path / "b.csv").write_bytes(bom + b"a,y\nx,1\n")
    (tmp_path / "schema.txt").write_bytes(bom + b"label y\ncategorical a\n")
    c, = _read(CsvReader(tmp_path / "b.csv", CsvSchema.from_file(tmp_path / "schema.txt")))
    assert c.columns["a"] == ["x"] and c.y.tolist() == [1.0]
    d = tmp_path / "ml"
    shutil.copytree(FAKE_ML100K, d)
    (d / "u.user").write_bytes(bom + (d / "u.user").read_bytes())
    (d / "u.data").write_bytes(bom + (d / "u.data").read_bytes())
    assert sum(len(c) for c in _read(MovieLensReader(d))) == 10


# ---- Criteo rows with their trailing empty fields stripped -------------------------------------------
def _strip_trailing(rows):
    return ["\t".join(r).rstrip("\t").split("\t") for r in rows]


def test_criteo_rows_with_stripped_trailing_fields_read_as_missing(tmp_path):
    rows = criteo_rows(400, seed=5, missing=0.5)
    for r in rows[::3]:
        r[-3:] = ["", "", ""]                                    # some rows end in 3 empty fields
    full = write_criteo(tmp_path / "full.txt", rows)
    stripped_rows = _strip_trailing(rows)
    n_short = sum(len(r) < 40 for r in stripped_rows)
    assert n_short > 100 and min(len(r) for r in stripped_rows) <= 38
    short = write_criteo(tmp_path / "short.txt", stripped_rows)
    reader = CriteoReader(short, block_bytes=2048)
    with pytest.warns(RuntimeWarning, match=rf"short.txt: {n_short} row\(s\) with fewer than 40 columns .*read "
                                            r"as missing values \(first at line \d+: 3\d columns\)"):
        got = list(reader.chunks())
    _same_chunks(_read(CriteoReader(full, block_bytes=2048)), got)
    assert list(reader.stats.notes.values()) == [n_short] and reader.stats.skipped == 0
    # unlabeled: the same with 39 columns
    unl = write_criteo(tmp_path / "unl.txt", _strip_trailing([r[1:] for r in rows]))
    _same_chunks([_drop_y(c) for c in _read(CriteoReader(full, block_bytes=2048))],
                 _read(CriteoReader(unl, label=False, block_bytes=2048)))


def _drop_y(chunk):
    chunk.y[:] = 0
    return chunk


def test_criteo_too_many_or_too_few_columns_are_bad_rows(tmp_path):
    rows = criteo_rows(6, seed=6)
    rows[1] = rows[1] + ["x"]                                    # 41 columns
    rows[3] = rows[3][:13]                                       # label + 12 integers: too few
    path = write_criteo(tmp_path / "bad.txt", rows)
    with pytest.raises(DataError, match=r"line 2: expected 40 tab-separated columns .*got 41: too many"):
        list(CriteoReader(path).chunks())
    r = CriteoReader(path, skip_bad_rows=True)
    assert sum(len(c) for c in r.chunks()) == 4 and r.stats.skipped == 2
    assert "line 4" in r.stats.first_skipped[1] and "got 13: too few to hold the label and I1..I13" \
        in r.stats.first_skipped[1]
    r14 = write_criteo(tmp_path / "r14.txt", [criteo_rows(1, seed=7)[0][:14]] + criteo_rows(2, seed=8))
    with pytest.warns(RuntimeWarning, match="first at line 1: 14 columns"):
        c, = CriteoReader(r14).chunks()                          # label + 13 integers: enough
    assert c.columns["C1"].keys[0] == 0 and len(c) == 3


def test_criteo_file_of_39_columns_suggests_no_label(tmp_path):
    rows = [r[1:] for r in criteo_rows(5, seed=9)]
    rows[2][0] = "7"                                             # I1 = 7 where a label would be
    path = write_criteo(tmp_path / "test.txt", rows)
    with pytest.raises(DataError, match=r"every row has 39 tab-separated columns.* pass --no-label"):
        list(CriteoReader(path).chunks())
    mixed = write_criteo(tmp_path / "mixed.txt", criteo_rows(3, seed=10) + rows[2:3])
    with pytest.raises(DataError, match=r"line 4, column 1 \(label\): label must be 0 or 1 \(the row has 39 "
                                        r"columns: if the file has no label column, pass --no-label\)"):
        list(CriteoReader(mixed).chunks())
    full = write_criteo(tmp_path / "full.txt", criteo_rows(3, seed=11))
    with pytest.raises(DataError, match=r"got 40: too many; if the file has a label column, do not pass --no-label"):
        list(CriteoReader(full, label=False).chunks())


def _cells_slow(block: bytes, n_cols: int, min_cols: int):
    """The obvious twin of split_delimited(min_cols=...): split each line in Python, pad short ones."""
    ncols, good, cs, ce = [], [], [], []
    pos = 0
    for raw in block.split(b"\n")[:-1]:
        line = raw[:-1] if raw.endswith(b"\r") else raw
        cells = line.split(b"\t") if line else []
        ncols.append(len(cells))
        ok = min_cols <= len(cells) <= n_cols and len(cells) > 0
        good.append(ok)
        if ok:
            s, starts, ends = pos, [], []
            for cell in cells:
                starts.append(s)
                ends.append(s + len(cell))
                s += len(cell) + 1
            end = pos + len(line)
            starts += [end] * (n_cols - len(cells))
            ends += [end] * (n_cols - len(cells))
            cs.append(starts)
            ce.append(ends)
        pos += len(raw) + 1
    return (np.array(ncols), np.array(good), np.array(cs, dtype=np.int64).reshape(-1, n_cols),
            np.array(ce, dtype=np.int64).reshape(-1, n_cols))


def test_ragged_split_matches_its_slow_twin():
    rng = np.random.default_rng(12)
    for trial in range(30):
        lines = []
        for _ in range(int(rng.integers(1, 40))):
            n = int(rng.integers(0, 9))
            cells = ["".join(rng.choice(list("ab1"), int(rng.integers(0, 3)))) for _ in range(n)]
            lines.append("\t".join(cells) + ("\r" if rng.random() < 0.2 else ""))
        block = ("\n".join(lines) + "\n").encode()
        a = np.frombuffer(block, dtype=np.uint8)
        starts, ends, newlines = line_bounds(a)
        got = split_delimited(a, starts, ends, newlines, 6, min_cols=3)
        want = _cells_slow(block, 6, 3)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[0][got[1]], want[0][want[1]])
        np.testing.assert_array_equal(got[2], want[2])
        np.testing.assert_array_equal(got[3], want[3])


# ---- libSVM: which fields -------------------------------------------------------------------------
def _svm(path, rows):
    path.write_text("".join(f"{y} " + " ".join(f"{k}:{v}" for k, v in feats) + "\n" for y, feats in rows))
    return path


def _fixed_width_rows(n, seed=13):
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        u, i, c = int(rng.integers(1, 20)), int(rng.integers(20, 50)), int(rng.integers(50, 60))
        rows.append((int((u + i) % 3 == 0), [(u, 1), (i, 1), (c, 1)]))
    return rows


def test_fields_auto_picks_position_for_fixed_width_rows_else_single(tmp_path):
    fixed = _svm(tmp_path / "fixed.svm", _fixed_width_rows(200))
    assert auto_fields(fixed) == {"mode": "position", "n_fields": 3, "rows": 200, "min": 3, "max": 3}
    r = LibSVMReader(fixed)                                       # "auto" is the default
    enc = fit_encoder(r)
    assert r.mode == "position" and enc.layout.names == ("pos0", "pos1", "pos2")
    ragged = _svm(tmp_path / "ragged.svm", [(1, [(1, 1)]), (0, [(2, 1), (3, 1)]), (1, [])])
    (tmp_path / "blank.svm").write_text("\n" + ragged.read_text() + "\n\n")
    assert features_per_row(tmp_path / "blank.svm") == {"rows": 3, "min": 0, "max": 2}
    assert auto_fields(ragged)["mode"] == "single" and LibSVMReader(ragged).mode == "single"
    assert fit_encoder(LibSVMReader(ragged)).layout.names == ("features",)


def test_cli_libsvm_auto_prints_fields_and_warns_pair_models_on_one_field(tmp_path, capsys):
    fixed = _svm(tmp_path / "fixed.svm", _fixed_width_rows(300))
    assert main(["train", "--format", "libsvm", "--train", str(fixed), "--model", "fm",
                 "--out", str(tmp_path / "f.npz"), *SMALL]) == 0
    out = capsys.readouterr()
    assert "--fields auto: every row of" in out.out and "has 3 features -> position: 3 field(s)" in out.out
    assert "WARNING" not in out.err
    saved = load_model(tmp_path / "f.npz")
    assert saved.reader["fields"] == "position" and saved.encoder.layout.n_fields == 3

    rows = _fixed_width_rows(300)
    rows[5] = (1, rows[5][1][:2])                                 # one row with 2 features
    ragged = _svm(tmp_path / "ragged.svm", rows)
    assert main(["train", "--format", "libsvm", "--train", str(ragged), "--model", "deepfm",
                 "--out", str(tmp_path / "r.npz"), *SMALL]) == 0
    out = capsys.readouterr()
    assert "have 2 to 3 features -> single: 1 field(s)" in out.out
    assert "WARNING: --model deepfm models pairs of fields" in out.err and "--fields position" in out.err
    assert main(["train", "--format", "libsvm", "--train", str(ragged), "--model", "lr",
                 "--out", str(tmp_path / "l.npz"), *SMALL]) == 0
    assert "WARNING" not in capsys.readouterr().err                # LR needs no pairs


# ---- libSVM: repeated features are summed -----------------------------------------------------------
def test_repeated_features_in_a_row_are_summed(tmp_path):
    dup = tmp_path / "dup.svm"
    dup.write_text("1 3:1 3:1 3:1 5:2\n0 5:1 7:0.5 5:0.25\n1 9:1\n")
    merged = tmp_path / "merged.svm"
    merged.write_text("1 3:3 5:2\n0 5:1.25 7:0.5\n1 9:1\n")
    for fields in ("single", "position", "user:0-4,item:5-9"):
        with pytest.warns(RuntimeWarning, match=r"dup.svm: 2 row\(s\) with a repeated feature: its values were "
                                                r"summed into one entry \(first at line 1: index 3 3 times\)"):
            a = list(LibSVMReader(dup, fields=fields).chunks())
        _same_chunks(_read(LibSVMReader(merged, fields=fields)), a)
    e = a[0].columns["features"]
    np.testing.assert_array_equal(e.features, [3, 5, 5, 7, 9])
    np.testing.assert_array_equal(e.values, [3, 2, 1.25, 0.5, 1])
    ffm = tmp_path / "dup.ffm"
    ffm.write_text("1 0:3:1 0:3:2 1:3:1\n")                        # same index in another field: kept apart
    with pytest.warns(RuntimeWarning, match=r"field:index 0:3 2 times"):
        c, = LibSVMReader(ffm, ffm=True).chunks()
    e = c.columns["field"]
    assert e.fields.tolist() == [0, 1] and e.features.tolist() == [3, 3] and e.values.tolist() == [3, 1]


# ---- one very wide row ------------------------------------------------------------------------------
def test_a_row_wider_than_max_slots_is_a_bad_row(tmp_path):
    rows = _fixed_width_rows(100)
    rows[40] = (1, [(k, 1) for k in range(1, 1500)])
    path = _svm(tmp_path / "wide.svm", rows)
    assert MAX_SLOTS == 1000
    with pytest.raises(DataError, match=r"wide.svm, line 41: row has 1,499 features, more than max_slots 1,000.*"
                                        r"--max-slots N"):
        fit_encoder(LibSVMReader(path, fields="single"))
    r = LibSVMReader(path, fields="single", skip_bad_rows=True)
    enc = fit_encoder(r)
    assert r.stats.skipped == 1 and "line 41" in r.stats.first_skipped[0]
    assert enc.layout.n_slots == 3                                # the other rows' width, not 1,499
    assert fit_encoder(LibSVMReader(path, fields="single", max_slots=None)).layout.n_slots == 1499
    ffm = tmp_path / "wide.ffm"
    ffm.write_text("1 0:1:1 1:2:1\n" + "0 " + " ".join(f"{f}:1:1" for f in range(1200)) + "\n1 0:3:1\n")
    r = LibSVMReader(ffm, ffm=True, skip_bad_rows=True)
    assert fit_encoder(r).layout.n_fields == 2 and r.stats.skipped == 1
    csv = tmp_path / "wide.csv"
    csv.write_text("g,y\na|b,1\n" + "|".join(f"t{i}" for i in range(30)) + ",0\nc,1\n")
    schema = CsvSchema.from_options("y", multi="g:|")
    with pytest.raises(DataError, match=r"wide.csv, line 3, column 1 \(g\): 30 values, more than max_slots 20"):
        list(CsvReader(csv, schema, max_slots=20).chunks())
    r = CsvReader(csv, schema, max_slots=20, skip_bad_rows=True)
    assert fit_encoder(r).layout.n_slots == 2 and r.stats.skipped == 1


def test_cli_max_slots(tmp_path, capsys):
    rows = _fixed_width_rows(200)
    rows[7] = (0, [(k, 1) for k in range(1, 60)])
    path = _svm(tmp_path / "wide.svm", rows)
    base = ["train", "--format", "libsvm", "--fields", "single", "--train", str(path), "--model", "lr", *SMALL]
    assert main(base + ["--max-slots", "50", "--out", str(tmp_path / "a.npz")]) == 2
    assert "line 8: row has 59 features, more than max_slots 50" in capsys.readouterr().err
    assert main(base + ["--max-slots", "50", "--skip-bad-rows", "--out", str(tmp_path / "b.npz")]) == 0
    assert load_model(tmp_path / "b.npz").reader["max_slots"] == 50
    assert main(base + ["--max-slots", "60", "--out", str(tmp_path / "c.npz")]) == 0
    assert load_model(tmp_path / "c.npz").encoder.layout.n_slots == 59


# ---- CSV: a header in one file only -----------------------------------------------------------------
def _csv_rows(n, seed):
    rng = np.random.default_rng(seed)
    return [f"u{rng.integers(0, 9)},{rng.integers(1, 60)},{int(rng.random() < 0.4)}" for _ in range(n)]


def test_header_detected_per_file(tmp_path):
    schema = CsvSchema.from_options("click", categorical="user", numeric="age")
    (tmp_path / "train.csv").write_text("user,age,click\n" + "\n".join(_csv_rows(50, 1)) + "\n")
    (tmp_path / "dev.csv").write_text("\n".join(_csv_rows(30, 2)) + "\n")
    learnt = schema.learn_header(tmp_path / "train.csv")
    assert learnt.names == ("user", "age", "click") and learnt.header
    assert CsvSchema.from_dict(learnt.to_dict()) == learnt
    with pytest.warns(RuntimeWarning, match=r"dev.csv: 1 first line does not look like a header \(it is not the "
                                            r"column names user,age,click\): read as a data row"):
        rows = sum(len(c) for c in CsvReader(tmp_path / "dev.csv", learnt).chunks())
    assert rows == 30
    with warnings.catch_warnings():
        warnings.simplefilter("error")                           # a header equal to the names: silent
        assert sum(len(c) for c in CsvReader(tmp_path / "train.csv", learnt).chunks()) == 50
    # --no-header --columns, and a file that has the header anyway: it is skipped (and said)
    nohead = CsvSchema.from_options("click", categorical="user", numeric="age", header=False,
                                    columns="user,age,click")
    with pytest.warns(RuntimeWarning, match="first line is the header row"):
        assert sum(len(c) for c in CsvReader(tmp_path / "train.csv", nohead).chunks()) == 50
    # a header of its own: other order, no label column (a file to predict)
    (tmp_path / "new.csv").write_text("age,user\n20,u1\n30,u2\n")
    c, = CsvReader(tmp_path / "new.csv", learnt, label=False).chunks()
    assert c.columns["user"] == ["u1", "u2"] and c.columns["age"].tolist() == [20, 30]
    # without known names, a first line that is not a header says so
    with pytest.raises(DataError, match=r"dev.csv, line 1: first line does not look like a header: columns "
                                        r"\['user', 'age', 'click'\] of the schema are not in it"):
        list(CsvReader(tmp_path / "dev.csv", schema).chunks())


def test_cli_csv_header_in_the_training_file_only(tmp_path, capsys):
    (tmp_path / "train.csv").write_text("user,age,click\n" + "\n".join(_csv_rows(200, 3)) + "\n")
    (tmp_path / "dev.csv").write_text("\n".join(_csv_rows(60, 4)) + "\n")
    (tmp_path / "test.csv").write_text("\n".join(_csv_rows(40, 5)) + "\n")
    args = ["train", "--format", "csv", "--label", "click", "--categorical", "user", "--numeric", "age",
            "--train", str(tmp_path / "train.csv"), "--valid", str(tmp_path / "dev.csv"),
            "--test", str(tmp_path / "test.csv"), "--model", "fm", "*"]
    with pytest.warns(RuntimeWarning, match="does not look like a header"):
        assert main(args[:-1] + ["--out", str(tmp_path / "m.npz"), *SMALL]) == 0
    assert "train 200 rows, valid 60 rows, test 40 rows" in capsys.readouterr().out
    with pytest.warns(RuntimeWarning, match="first line is the header row"):   # --no-header: train's header skipped
        assert main(args[:-1] + ["--no-header", "--columns", "user,age,click", "--out", str(tmp_path / "n.npz"),
                                 *SMALL]) == 0
    assert "train 200 rows, valid 60 rows, test 40 rows" in capsys.readouterr().out
    with pytest.warns(RuntimeWarning, match="does not look like a header"):
        assert main(["predict", "--model", str(tmp_path / "m.npz"), "--input", str(tmp_path / "test.csv"),
                     "--output", str(tmp_path / "p.txt")]) == 0
    assert len((tmp_path / "p.txt").read_text().split()) == 40


# ---- MovieLens: ids unseen in training; side files ------------------------------------------------
def test_movielens_unseen_user_and_item_go_to_oov_at_predict(tmp_path, capsys):
    d = tmp_path / "ml"
    shutil.copytree(FAKE_ML100K, d)
    assert main(["train", "--format", "movielens", "--train", str(d / "u1.base"), "--valid", str(d / "u1.test"),
                 "--model", "fm", "--min-count", "1", "--out", str(tmp_path / "m.npz"), *SMALL]) == 0
    (d / "new.data").write_text("999\t1\t4\t881250949\n1\t777\t2\t881250949\n1\t1\t5\t881250949\n")
    with pytest.warns(RuntimeWarning) as caught:
        assert main(["predict", "--model", str(tmp_path / "m.npz"), "--input", str(d / "new.data"),
                     "--output", str(tmp_path / "p.txt")]) == 0
    said = " | ".join(str(w.message) for w in caught)
    assert len(caught) == 2
    assert "new.data: 1 rating(s) with an item id not in u.item: its genres are read as missing" in said
    assert "(first at line 2: item 777)" in said and "(first at line 1: user 999)" in said
    assert "new.data: 1 rating(s) with a user id not in u.user: its age, gender, occupation and zip" in said
    p = np.array((tmp_path / "p.txt").read_text().split(), dtype=float)
    assert p.shape == (3,) and np.all((p > 0) & (p < 1))
    saved = load_model(tmp_path / "m.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = encode(MovieLensReader(d / "new.data"), saved.encoder)
    assert out.stats.oov["user"] == 1 and out.stats.oov["item"] == 1
    lay = saved.encoder.layout
    user, item = lay.names.index("user"), lay.names.index("item")
    slot = {f: int(np.flatnonzero(lay.slot_field == f)[0]) for f in (user, item)}
    assert out.idx[0, slot[user]] == lay.offsets[user]                # local id 0: the user's OOV row
    assert out.idx[1, slot[item]] == lay.offsets[item]
    assert out.idx[2, slot[user]] != lay.offsets[user]                # a known user: its own row


def test_movielens_missing_side_file_says_what_to_pass(tmp_path):
    (tmp_path / "ratings.data").write_text("1\t1\t5\t10\n")
    with pytest.raises(DataError, match=r"u.user not found beside the ratings file: pass the ml-100k directory, "
                                        r"or a ratings file inside it"):
        list(MovieLensReader(tmp_path / "ratings.data").chunks())
    shutil.copy(FAKE_ML100K / "u.user", tmp_path / "u.user")
    with pytest.raises(DataError, match="u.item not found beside the ratings file"):
        list(MovieLensReader(tmp_path / "ratings.data").chunks())


# ---- --skip-bad-rows says why -----------------------------------------------------------------------
def test_skip_bad_rows_reports_the_first_reasons_with_lines(tmp_path, capsys):
    rows = criteo_rows(300, seed=14)
    rows[9][0] = "2"                                             # line 10: bad label
    rows[19][3] = "abc"                                          # line 20: not a number in I3
    path = write_criteo(tmp_path / "t.txt", rows)
    assert main(["train", "--format", "criteo", "--train", str(path), "--valid", str(path), "--model", "lr",
                 "--skip-bad-rows", "--out", str(tmp_path / "m.npz"), *SMALL]) == 0
    out = capsys.readouterr().out
    assert "  train: skipped 2 bad row(s):" in out
    assert "t.txt, line 10, column 1 (label): label must be 0 or 1: '2'" in out
    assert "t.txt, line 20, column 4 (I3): not a number: 'abc'" in out
    assert main(["evaluate", "--model", str(tmp_path / "m.npz"), "--data", str(path), "--skip-bad-rows"]) == 0
    out = capsys.readouterr().out
    assert "skipped 2 bad rows" in out and "line 10, column 1 (label)" in out
    many = criteo_rows(300, seed=15)
    for i in range(0, 80, 10):
        many[i][0] = "x"
    write_criteo(tmp_path / "many.txt", many)
    r = CriteoReader(tmp_path / "many.txt", skip_bad_rows=True)
    list(r.chunks())
    lines = r.stats.skipped_lines()
    assert lines[0] == "skipped 8 bad row(s) (the first 5 shown):" and len(lines) == 6 and "line 1," in lines[1]

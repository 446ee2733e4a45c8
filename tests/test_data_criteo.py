"""Criteo TSV reader: values against a plain-Python reference, bad rows, skipping, block boundaries."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepfm_np.data.criteo import CAT_NAMES, INT_NAMES, CriteoReader
from deepfm_np.data.fastparse import byte_windows, pack_cells, parse_int_cells
from deepfm_np.data.raw import PackedStrings, pack_string, pack_strings
from deepfm_np.errors import DataError
from fixtures.fake_data import criteo_rows, write_criteo


def read_all(reader):
    """Concatenate a reader's chunks into y (N,), numbers (N, 13), categorical strings (N, 26), lines."""
    ys, nums, cats, lines = [], [], [], []
    for c in reader.chunks():
        ys.append(c.y)
        lines.append(c.lines)
        nums.append(np.stack([c.columns[k] for k in INT_NAMES], axis=1))
        cols = []
        for k in CAT_NAMES:
            col = c.columns[k]
            cols.append(col.to_strings() if isinstance(col, PackedStrings) else list(col))
        cats.extend(zip(*cols))
    return np.concatenate(ys), np.concatenate(nums), [list(r) for r in cats], np.concatenate(lines)


def reference(rows):
    """The same rows parsed the slow, obvious way."""
    y = np.array([float(r[0]) for r in rows], dtype=np.float32)
    nums = np.array([[float(v) if v else np.nan for v in r[1:14]] for r in rows])
    cats = [r[14:] for r in rows]
    return y, nums, cats


def test_values_match_plain_python(tmp_path):
    rows = criteo_rows(500, seed=1)
    path = write_criteo(tmp_path / "t.txt", rows)
    y, nums, cats, lines = read_all(CriteoReader(path))
    ry, rnums, rcats = reference(rows)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(nums, rnums)           # NaN == NaN in this helper
    assert cats == rcats
    np.testing.assert_array_equal(lines, np.arange(1, 501))


@pytest.mark.parametrize("block_bytes", [64, 1000, 1 << 20])
def test_block_size_does_not_change_the_result(tmp_path, block_bytes):
    rows = criteo_rows(200, seed=2)
    path = write_criteo(tmp_path / "t.txt", rows)
    a = read_all(CriteoReader(path))
    b = read_all(CriteoReader(path, block_bytes=block_bytes))
    for u, v in zip(a, b):
        if isinstance(u, np.ndarray):
            np.testing.assert_array_equal(u, v)
        else:
            assert u == v


def test_crlf_blank_lines_and_missing_final_newline(tmp_path):
    rows = criteo_rows(5, seed=3)
    text = "\r\n".join("\t".join(r) for r in rows[:3]) + "\r\n\r\n\n" + "\n".join("\t".join(r) for r in rows[3:])
    path = tmp_path / "t.txt"
    path.write_bytes(text.encode())
    y, nums, cats, lines = read_all(CriteoReader(path))
    ry, rnums, rcats = reference(rows)
    np.testing.assert_array_equal(nums, rnums)
    assert cats == rcats
    np.testing.assert_array_equal(lines, [1, 2, 3, 6, 7])   # blank lines 4 and 5 skipped, numbering kept


def test_non_integer_numbers_and_long_categoricals(tmp_path):
    rows = criteo_rows(3, seed=4, missing=0.0)
    rows[0][1], rows[0][2], rows[0][3], rows[0][4] = "2.5", "1e3", "-0.25", "123456789012"
    rows[1][14] = "a-much-longer-value"                    # > 8 bytes: the per-column slow path
    rows[2][15] = "é"                                      # multi-byte UTF-8, packed
    path = write_criteo(tmp_path / "t.txt", rows)
    y, nums, cats, _ = read_all(CriteoReader(path))
    assert nums[0, :4].tolist() == [2.5, 1000.0, -0.25, 123456789012.0]
    assert cats[1][0] == "a-much-longer-value" and cats[2][1] == "é"


def test_nan_and_inf_are_missing_with_one_warning(tmp_path):
    rows = criteo_rows(4, seed=5, missing=0.0)
    rows[1][3], rows[2][5], rows[3][1] = "nan", "inf", "-Infinity"
    path = write_criteo(tmp_path / "t.txt", rows)
    with pytest.warns(RuntimeWarning, match=r"3 NaN/inf .* line 2, column 4 \(I3\)") as rec:
        _, nums, _, _ = read_all(CriteoReader(path))
    assert len([w for w in rec if "NaN/inf" in str(w.message)]) == 1
    assert np.isnan(nums[1, 2]) and np.isnan(nums[2, 4]) and np.isnan(nums[3, 0])


def test_unlabeled_file(tmp_path):
    rows = [r[1:] for r in criteo_rows(4, seed=6)]
    path = write_criteo(tmp_path / "t.txt", rows)
    c = next(CriteoReader(path, label=False).chunks())
    assert len(c) == 4 and (c.y == 0).all()
    with pytest.raises(DataError, match="39 tab-separated columns.*pass --no-label"):
        list(CriteoReader(path).chunks())


# ---- bad input -----------------------------------------------------------------------------
def _bad_file(tmp_path, change):
    rows = criteo_rows(6, seed=7, missing=0.0)
    line = change(rows)
    return write_criteo(tmp_path / "bad.txt", rows), line


BAD = {
    "too few columns": (lambda r: (r[2].__delitem__(slice(13, None)), 3)[1],
                        r"line 3: expected 40 tab-separated columns .*got 13: too few to hold the label and I1"),
    "too many columns": (lambda r: (r[4].append("x"), 5)[1], r"line 5: expected 40 .*got 41"),
    "label 2": (lambda r: (r[1].__setitem__(0, "2"), 2)[1], r"line 2, column 1 \(label\): label must be 0 or 1: '2'"),
    "empty label": (lambda r: (r[1].__setitem__(0, ""), 2)[1], r"line 2, column 1 \(label\)"),
    "word in I5": (lambda r: (r[3].__setitem__(5, "abc"), 4)[1], r"line 4, column 6 \(I5\): not a number: 'abc'"),
    "lone minus": (lambda r: (r[0].__setitem__(13, "-"), 1)[1], r"line 1, column 14 \(I13\): not a number: '-'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_rows_name_file_line_and_column(tmp_path, case):
    change, pattern = BAD[case]
    path, line = _bad_file(tmp_path, change)
    with pytest.raises(DataError, match=pattern) as e:
        list(CriteoReader(path).chunks())
    assert e.value.line == line and e.value.path == str(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("case", sorted(BAD))
def test_skip_bad_rows_skips_and_counts(tmp_path, case):
    change, _ = BAD[case]
    path, line = _bad_file(tmp_path, change)
    reader = CriteoReader(path, skip_bad_rows=True)
    _, _, _, lines = read_all(reader)
    assert line not in lines.tolist() and len(lines) == 5
    assert reader.stats.skipped == 1 and reader.stats.rows == 5
    assert f"line {line}" in reader.stats.first_skipped[0]


def test_first_error_in_file_order_wins(tmp_path):
    rows = criteo_rows(6, seed=8, missing=0.0)
    rows[4][0] = "7"            # line 5: bad label
    rows[2][20] = "x\ty"        # line 3: 41 columns
    path = write_criteo(tmp_path / "t.txt", rows)
    with pytest.raises(DataError) as e:
        list(CriteoReader(path).chunks())
    assert e.value.line == 3


def test_undecodable_bytes_and_nul(tmp_path):
    rows = criteo_rows(3, seed=9, missing=0.0)
    lines = ["\t".join(r).encode() for r in rows]
    lines[1] = lines[1].replace(b"\t", b"\t\xff\xfe", 1)
    path = tmp_path / "t.txt"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(DataError, match="line 2.*not UTF-8"):
        list(CriteoReader(path).chunks())
    path.write_bytes(b"\n".join([lines[0], lines[2].replace(b"\t", b"\t\0", 1)]) + b"\n")
    with pytest.raises(DataError, match="line 2.*NUL byte"):
        list(CriteoReader(path).chunks())
    r = CriteoReader(path, skip_bad_rows=True)
    assert sum(len(c) for c in r.chunks()) == 1 and r.stats.skipped == 1


def test_empty_missing_and_all_bad_files(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataError, match="empty file"):
        list(CriteoReader(tmp_path / "empty.txt").chunks())
    (tmp_path / "blank.txt").write_text("\n\n\r\n")
    with pytest.raises(DataError, match="empty file"):
        list(CriteoReader(tmp_path / "blank.txt").chunks())
    with pytest.raises(DataError, match="file not found"):
        list(CriteoReader(tmp_path / "nope.txt").chunks())
    with pytest.raises(DataError, match="is a directory"):
        list(CriteoReader(tmp_path).chunks())
    (tmp_path / "junk.txt").write_text("a\tb\nc\n")
    r = CriteoReader(tmp_path / "junk.txt", skip_bad_rows=True)
    with pytest.raises(DataError, match="all 2 data row"):
        list(r.chunks())


# ---- the vectorised helpers against plain Python ---------------------------------------------
def _cells(texts):
    data = ("\t".join(texts) + "\n").encode("utf-8")
    a = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero((a == 9) | (a == 10))
    starts = np.r_[0, ends[:-1] + 1]
    return a, starts, ends


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(-10**9, 10**9).map(str),
                          st.text(alphabet="0123456789-+.eE /:a", max_size=10)), min_size=1, max_size=30))
def test_parse_int_cells_matches_python(texts):
    a, s, e = _cells(texts)
    values, is_int = parse_int_cells(byte_windows(a), s, e)
    for t, v, ok in zip(texts, values.tolist(), is_int.tolist()):
        plain = t[1:] if t.startswith("-") else t
        expected_ok = 1 <= len(plain) <= 8 and all(c in "0123456789" for c in plain)
        assert ok == expected_ok, t
        if ok:
            assert v == float(int(t))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\t\n\r\0", blacklist_categories=("Cs",)),
                        max_size=4), min_size=1, max_size=30))
def test_pack_cells_matches_pack_string(texts):
    texts = [t for t in texts if len(t.encode()) <= 8] or [""]
    a, s, e = _cells(texts)
    keys = pack_cells(byte_windows(a), s, e)
    assert keys.dtype == np.uint64
    assert keys.tolist() == [pack_string(t) for t in texts]
    assert PackedStrings(keys).to_strings() == texts


def test_warnings_are_not_raised_for_clean_files(tmp_path):
    path = write_criteo(tmp_path / "t.txt", criteo_rows(50, seed=10))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(CriteoReader(path).chunks())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=10), max_size=30))
def test_pack_strings_matches_pack_string(tokens):
    keys, fits = pack_strings(tokens)
    assert keys.dtype == np.uint64 and fits.dtype == bool and len(keys) == len(tokens)
    for t, k, f in zip(tokens, keys.tolist(), fits.tolist()):
        expected = pack_string(t)
        assert f == (expected is not None)
        if f:
            assert k == expected

"""libSVM/libFM and libFFM readers: field mappings, labels, bad tokens, encoding to slots."""
import numpy as np
import pytest

from deepfm_np.data import LibSVMReader, encode, fit_encoder, open_reader
from deepfm_np.data.libsvm import parse_field_ranges
from deepfm_np.errors import DataError

SVM = "1 3:1 10:0.5 27:1\n-1 3:2 4:1\n\n+1 10:1 3:1\n0 27:0.25\n"
FFM = "1 0:3:1 1:10:0.5 2:27:1\n0 0:3:2 1:4:1\n1 2:27:1 0:5:1\n"


def write(tmp_path, text, name="d.txt"):
    p = tmp_path / name
    p.write_text(text)
    return p


def entries(reader):
    c = next(reader.chunks())
    e = c.columns[reader.columns[0].name]
    return c, e


def test_single_field_keeps_values_and_labels(tmp_path):
    r = LibSVMReader(write(tmp_path, SVM))
    c, e = entries(r)
    assert c.y.tolist() == [1, 0, 1, 0] and c.lines.tolist() == [1, 2, 4, 5]
    assert e.indptr.tolist() == [0, 3, 5, 7, 8]
    assert e.features.tolist() == [3, 10, 27, 3, 4, 10, 3, 27]
    assert e.values.tolist() == [1, 0.5, 1, 2, 1, 1, 1, 0.25]
    assert (e.fields == 0).all()
    enc = fit_encoder(r, min_count=1)
    assert enc.layout.names == ("features",) and enc.layout.kinds == ("multi",)
    d = encode(r, enc)
    assert d.idx.shape == (4, 3)
    # each slot carries the feature's own value, padding 0: sum_j val_j E[idx_j] = sum_j x_j E[j]
    np.testing.assert_allclose(d.val[0], [1, 0.5, 1])
    np.testing.assert_allclose(d.val[3], [0.25, 0, 0])


def test_position_and_range_fields(tmp_path):
    p = write(tmp_path, SVM)
    _, e = entries(LibSVMReader(p, fields="position"))
    assert e.fields.tolist() == [0, 1, 2, 0, 1, 0, 1, 0]
    enc = fit_encoder(LibSVMReader(p, fields="position"), min_count=1)
    assert enc.layout.names == ("pos0", "pos1", "pos2")
    r = LibSVMReader(p, fields="low:0-9, high:10-30")
    _, e = entries(r)
    assert e.fields.tolist() == [0, 1, 1, 0, 0, 1, 0, 1]
    assert fit_encoder(r, min_count=1).layout.names == ("low", "high")
    with pytest.raises(DataError, match=r"line 1, column 4 \(index:value\): feature index is in no field range"):
        list(LibSVMReader(p, fields="low:0-9,mid:10-20").chunks())


def test_field_range_parsing():
    assert parse_field_ranges("user:1-943,item:944-2625") == [("user", 1, 943), ("item", 944, 2625)]
    for bad in ["user:1-5,item:5-9", "user1-5", "a:5-1", "a:1-2,a:3-4"]:
        with pytest.raises(ValueError):
            parse_field_ranges(bad)


def test_libffm_fields_come_from_the_file(tmp_path):
    r = open_reader("libffm", write(tmp_path, FFM))
    _, e = entries(r)
    assert e.fields.tolist() == [0, 1, 2, 0, 1, 2, 0]
    enc = fit_encoder(r, min_count=1)
    assert enc.layout.names == ("field0", "field1", "field2") and enc.layout.widths == (1, 1, 1)
    d = encode(r, enc)
    enc.layout.validate(d.idx, d.val)
    assert d.stats.oov_rate == 0.0


@pytest.mark.parametrize("text, pattern", [
    ("2 1:1\n", r"line 1, column 1 \(label\): label must be 0/1 or -1/\+1: '2'"),
    ("yes 1:1\n", r"line 1, column 1 \(label\)"),
    ("1 1:1\n0 7\n", r"line 2, column 2 \(index:value\): expected index:value: '7'"),
    ("1 a:1\n", r"column 2 .*must be integers: 'a:1'"),
    ("1 1:x\n", r"value is not a number: '1:x'"),
    ("1 -3:1\n", r"must be in \[0, 2\^62\)"),
    ("1 1:1 99999999999999999999:1\n", r"column 3 .*must be in \[0, 2\^62\)"),
    ("", "empty file"),
])
def test_bad_libsvm_input(tmp_path, text, pattern):
    with pytest.raises(DataError, match=pattern):
        list(LibSVMReader(write(tmp_path, text)).chunks())


def test_bad_libffm_token_and_skipping(tmp_path):
    p = write(tmp_path, "1 0:1:1\n0 1:1\n1 2:3:1\n")
    with pytest.raises(DataError, match=r"line 2, column 2 \(field:index:value\)"):
        list(LibSVMReader(p, ffm=True).chunks())
    r = LibSVMReader(p, ffm=True, skip_bad_rows=True)
    assert sum(len(c) for c in r.chunks()) == 2 and r.stats.skipped == 1


def test_nonfinite_value_drops_the_entry_with_a_warning(tmp_path):
    p = write(tmp_path, "1 1:1 2:nan\n0 2:inf\n")
    with pytest.warns(RuntimeWarning, match=r"2 NaN/inf .*line 1"):   # at the end of a full pass
        (c,) = list(LibSVMReader(p).chunks())
    e = c.columns["features"]
    assert e.features.tolist() == [1] and e.indptr.tolist() == [0, 1, 1]

"""CSV/TSV with a schema: the schema file format, flags, header handling, bad rows."""
import numpy as np
import pytest

from deepfm_np.data import CsvReader, CsvSchema, encode, fit_encoder
from deepfm_np.data.raw import TokenLists
from deepfm_np.errors import DataError

SCHEMA = """# a schema for the toy file below
sep comma
header yes
label click
categorical user item
numeric age      # default mode
value price
multi genres |
"""
DATA = """user,item,age,price,genres,click,comment
u1,i1,23,9.5,Action|Comedy,1,"free, text"
u2,i1,,0,,0,x
u1,i2,40,-3,Drama,0,
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "schema.txt").write_text(SCHEMA)
    (tmp_path / "data.csv").write_text(DATA)
    return tmp_path


def test_schema_file_is_parsed(files):
    s = CsvSchema.from_file(files / "schema.txt")
    assert s.label == "click" and s.sep == "," and s.header
    assert s.fields == [("user", "categorical", None, None), ("item", "categorical", None, None),
                        ("age", "numeric", None, None), ("price", "numeric", "value", None),
                        ("genres", "multi", None, "|")]
    assert CsvSchema.from_dict(s.to_dict()) == s
    flags = CsvSchema.from_options("click", categorical="user,item", numeric=["age"], value="price",
                                   multi=["genres:|"])
    assert flags.fields == s.fields


def test_reader_columns_and_encoding(files):
    r = CsvReader(files / "data.csv", CsvSchema.from_file(files / "schema.txt"))
    c = next(r.chunks())
    assert c.y.tolist() == [1, 0, 0] and c.lines.tolist() == [2, 3, 4]
    assert c.columns["user"] == ["u1", "u2", "u1"]
    np.testing.assert_array_equal(c.columns["age"], [23, np.nan, 40])
    g = c.columns["genres"]
    assert isinstance(g, TokenLists) and g.indptr.tolist() == [0, 2, 2, 3]
    enc = fit_encoder(r, min_count=1)
    assert enc.layout.names == ("user", "item", "age", "price", "genres")
    assert enc.layout.kinds == ("categorical", "categorical", "categorical", "numeric", "multi")
    d = encode(r, enc)
    enc.layout.validate(d.idx, d.val)
    price = enc.layout.offsets[3]
    s_price = 3                                    # slot of price (the fields before it have width 1)
    assert d.idx[:, s_price].tolist() == [price + 1] * 3
    np.testing.assert_allclose(d.val[:, s_price], [np.log1p(9.5), 0.0, -np.log1p(3)], rtol=1e-6)


def test_headerless_tsv(tmp_path):
    (tmp_path / "s.txt").write_text("sep tab\nheader no\ncolumns y a b\nlabel y\ncategorical a\nbucket b\n")
    (tmp_path / "d.tsv").write_text("1\tx\t3\n0\ty\t\n")
    r = CsvReader(tmp_path / "d.tsv", CsvSchema.from_file(tmp_path / "s.txt"))
    c = next(r.chunks())
    assert c.columns["a"] == ["x", "y"] and np.isnan(c.columns["b"][1])


@pytest.mark.parametrize("text, pattern", [
    ("label\n", r"schema.txt, line 1: cannot read directive"),
    ("sep ab\nlabel y\ncategorical a\n", r"line 1: separator 'ab'"),
    ("multi g\n", r"line 1: cannot read directive"),
    ("label y\n", "no feature columns"),
    ("header no\nlabel y\ncategorical a\n", "needs `columns`"),
    ("label y\ncategorical a y\n", "twice"),
])
def test_bad_schema_files(tmp_path, text, pattern):
    (tmp_path / "schema.txt").write_text(text)
    with pytest.raises(DataError, match=pattern):
        CsvSchema.from_file(tmp_path / "schema.txt")


@pytest.mark.parametrize("data, pattern", [
    ("user,item,age,price,genres,click,comment\nu1,i1,abc,1,,1,\n", r"line 2, column 3 \(age\): not a number: 'abc'"),
    ("user,item,age,price,genres,click,comment\nu1,i1,1,1,,2,\n", r"line 2, column 6 \(click\): label must be 0 or 1"),
    ("user,item,age,price,genres,click,comment\nu1,i1,1\n", r"line 2: expected 7 columns .*got 3"),
    ("user,item,age,price,click\nu1,i1,1,1,1\n",
     r"line 1: first line does not look like a header: columns \['genres'\] of the schema are not in it"),
    ("user,item,age,price,genres,click,comment\nu1,i1,1,1,\"a\nb\",1,\n", "line 2: bad CSV quoting|line break"),
    ("user,item,age,price,genres,click,user\n", "more than once"),
    ("", "empty file"),
    ("user,item,age,price,genres,click,comment\n", "empty file: no data rows"),
])
def test_bad_csv_rows(files, data, pattern):
    (files / "bad.csv").write_text(data)
    r = CsvReader(files / "bad.csv", CsvSchema.from_file(files / "schema.txt"))
    with pytest.raises(DataError, match=pattern):
        list(r.chunks())


def test_skip_bad_rows_and_unlabeled(files):
    (files / "mixed.csv").write_text(DATA + "u3,i3,zz,1,,1,\nu3,i3,5,1,,1,\n")
    r = CsvReader(files / "mixed.csv", CsvSchema.from_file(files / "schema.txt"), skip_bad_rows=True)
    assert sum(len(c) for c in r.chunks()) == 4 and r.stats.skipped == 1
    (files / "nolabel.csv").write_text("user,item,age,price,genres\nu1,i9,3,1,Drama\n")
    r = CsvReader(files / "nolabel.csv", CsvSchema.from_file(files / "schema.txt"), label=False)
    c = next(r.chunks())
    assert c.y.tolist() == [0.0]


def test_nan_numeric_warns(files):
    (files / "nan.csv").write_text("user,item,age,price,genres,click,comment\nu1,i1,nan,inf,,1,\n")
    r = CsvReader(files / "nan.csv", CsvSchema.from_file(files / "schema.txt"))
    with pytest.warns(RuntimeWarning, match=r"2 NaN/inf .*line 2, column 3 \(age\)"):
        c = next(r.chunks())
        list(r.chunks())
    assert np.isnan(c.columns["age"][0])

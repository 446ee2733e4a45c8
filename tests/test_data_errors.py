"""DataError: where the problem is, in the message and in fields."""
import pickle

from deepfm_np.errors import DataError


def test_message_names_file_line_column_and_value():
    e = DataError("not a number", "data/train.txt", 12, ("I3", 4), "abc")
    assert str(e) == "data/train.txt, line 12, column 4 (I3): not a number: 'abc'"
    assert (e.path, e.line, e.column, e.column_name, e.column_number, e.value) == \
        ("data/train.txt", 12, ("I3", 4), "I3", 4, "abc")
    assert isinstance(e, ValueError)


def test_partial_locations():
    assert str(DataError("empty file", "x.txt")) == "x.txt: empty file"
    assert str(DataError("bad", line=3)) == "line 3: bad"
    assert str(DataError("bad", "f", 2, 7)) == "f, line 2, column 7: bad"
    assert str(DataError("bad", "f", 2, "genres")) == "f, line 2, column genres: bad"
    assert str(DataError("oops")) == "oops"


def test_long_values_are_shortened_in_the_message_only():
    v = "x" * 500
    e = DataError("bad", "f", 1, 1, v)
    assert len(str(e)) < 120 and str(e).endswith("...") and e.value == v


def test_survives_pickling():
    e = pickle.loads(pickle.dumps(DataError("bad", "f", 2, ("C1", 15), b"\xff")))
    assert str(e) == "f, line 2, column 15 (C1): bad: b'\\xff'" and e.line == 2

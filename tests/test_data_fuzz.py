"""Fuzzing: whatever bytes a file holds, readers (and the encoder after them) succeed or raise DataError.

Two kinds of inputs per format: arbitrary bytes, and text drawn from the
format's own alphabet (tabs, digits, ':' ...) with a valid row mixed in, which
gets much deeper into the parsers than random bytes do.
"""
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepfm_np.data import CsvSchema, DataError, encode, fit_encoder, open_reader
from fixtures.fake_data import FAKE_ML100K, criteo_rows

# DEEPFM_FUZZ_EXAMPLES=5000 for a longer hunt than the default run
SETTINGS = settings(max_examples=int(os.environ.get("DEEPFM_FUZZ_EXAMPLES", "150")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
VALID_CRITEO = "\t".join(criteo_rows(1, seed=0)[0]) + "\n"
ALPHABETS = {
    "criteo": "01\t\n\r-+.e9ab \x00\xff",
    "libsvm": "01 \t\n:-+.e9",
    "libffm": "01 \t\n:-+.e9",
    "csv": "01,\n\"|ab.-e ",
    "movielens": "0123\t\n -",
}
VALID = {
    "criteo": VALID_CRITEO,
    "libsvm": "1 3:1 4:0.5\n",
    "libffm": "0 1:3:1 2:4:0.5\n",
    "csv": "a,b,y\nx,1,1\n",
    "movielens": "1\t1\t5\t10\n",
}
SCHEMA = CsvSchema.from_options("y", categorical="a", numeric="b")


def run(fmt: str, data: bytes) -> None:
    """Read, fit and encode `data` as format `fmt`; anything but DataError fails the test."""
    tmp = Path(tempfile.mkdtemp())
    try:
        if fmt == "movielens":
            shutil.copytree(FAKE_ML100K, tmp / "ml")
            path = tmp / "ml" / "u.data"
        else:
            path = tmp / "data.txt"
        path.write_bytes(data)
        for skip in (False, True):
            reader = open_reader(fmt, path, skip_bad_rows=skip, schema=SCHEMA, block_bytes=64)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    enc = fit_encoder(reader, min_count=1)
                    d = encode(reader, enc)
                    enc.layout.validate(d.idx, d.val)
                except DataError:
                    pass
    finally:
        shutil.rmtree(tmp)


@pytest.mark.parametrize("fmt", sorted(ALPHABETS))
@SETTINGS
@given(data=st.binary(max_size=300))
def test_random_bytes(fmt, data):
    run(fmt, data)


@pytest.mark.parametrize("fmt", sorted(ALPHABETS))
@SETTINGS
@given(data=st.data())
def test_format_shaped_text(fmt, data):
    junk = data.draw(st.text(alphabet=ALPHABETS[fmt], max_size=200))
    where = data.draw(st.sampled_from(["before", "after", "none"]))
    valid = VALID[fmt]
    text = {"before": valid + junk, "after": junk + "\n" + valid, "none": junk}[where]
    if fmt == "csv" and where != "before":
        text = "a,b,y\n" + text
    run(fmt, text.encode("utf-8", "surrogatepass"))


@SETTINGS
@given(text=st.text(alphabet="labelcategoricnumsphdrtx ,|#\n", max_size=120))
def test_schema_files(text):
    tmp = Path(tempfile.mkdtemp())
    try:
        (tmp / "s.txt").write_text(text)
        try:
            CsvSchema.from_file(tmp / "s.txt")
        except DataError:
            pass
    finally:
        shutil.rmtree(tmp)

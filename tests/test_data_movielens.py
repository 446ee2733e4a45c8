"""MovieLens-100K reader on a hand-written fake ml-100k directory; download() with a local file:// URL."""
import datetime
import hashlib
import shutil
import zipfile

import numpy as np
import pytest

from deepfm_np.data import MovieLensReader, download_movielens, encode, fit_encoder
from deepfm_np.errors import DataError
from fixtures.fake_data import FAKE_ML100K


def test_rows_and_features():
    r = MovieLensReader(FAKE_ML100K)
    c = next(r.chunks())
    assert len(c) == 10 and c.lines.tolist() == list(range(1, 11))
    assert c.y.tolist() == [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]          # rating >= 4
    assert c.columns["user"][:3] == ["1", "1", "2"]
    assert c.columns["gender"][:3] == ["M", "M", "F"]
    assert c.columns["occupation"][2] == "other"
    assert c.columns["zip"][6] == "T8H"                             # first 3 characters
    np.testing.assert_array_equal(c.columns["age"][:3], [24, 24, 53])
    g = c.columns["genres"]
    first = g.tokens[g.indptr[0]:g.indptr[1]]
    assert first == ["Animation", "Children's", "Comedy"]
    assert g.indptr[8] == g.indptr[7]                               # item 5 has no genre: empty list
    for k, t in enumerate([874965758, 0, 86400, 3600]):
        row = [0, 6, 7, 8][k]
        dt = datetime.datetime.fromtimestamp(t, tz=datetime.timezone.utc)
        assert c.columns["hour"][row] == str(dt.hour)
        assert c.columns["weekday"][row] == str(dt.weekday())


def test_split_files_and_encoding():
    tr = MovieLensReader(FAKE_ML100K / "u1.base")
    te = MovieLensReader(FAKE_ML100K / "u1.test")
    enc = fit_encoder(tr, min_count=1)
    assert enc.layout.names == ("user", "item", "age", "gender", "occupation", "zip", "genres",
                                "hour", "weekday")
    assert enc.layout.kinds[6] == "multi" and enc.layout.widths[6] == 3
    d = encode(te, enc)
    enc.layout.validate(d.idx, d.val)
    assert d.n == 3 and d.stats.oov["item"] == 1                    # item 5 only appears in u1.test


def _copy(tmp_path):
    d = tmp_path / "ml"
    shutil.copytree(FAKE_ML100K, d)
    return d


def test_bad_ratings_and_side_files(tmp_path):
    d = _copy(tmp_path)
    (d / "u.data").write_text("1\t1\t5\t10\n1\t99\t5\t10\n")
    with pytest.warns(RuntimeWarning, match=r"u.data: 1 rating\(s\) with an item id not in u.item.*line 2: item 99"):
        c, = MovieLensReader(d).chunks()                          # an unknown item: no genres, not an error
    assert c.columns["item"] == ["1", "99"] and c.columns["genres"].indptr[2] == c.columns["genres"].indptr[1]
    (d / "u.data").write_text("1\t1\t7\t10\n")
    with pytest.raises(DataError, match=r"line 1, column 3 \(rating\): rating must be 1..5"):
        list(MovieLensReader(d).chunks())
    (d / "u.data").write_text("1\t1\t5\n1\t1\t5\tx\n1\t1\t5\t1\n")
    r = MovieLensReader(d, skip_bad_rows=True)
    assert sum(len(c) for c in r.chunks()) == 1 and r.stats.skipped == 2
    (d / "u.user").write_text("1|24|M\n")
    with pytest.raises(DataError, match=r"u.user, line 1: expected at least 5"):
        list(MovieLensReader(d).chunks())
    (d / "u.user").unlink()
    with pytest.raises(DataError, match="u.user not found beside the ratings file: pass the ml-100k directory"):
        list(MovieLensReader(d).chunks())
    with pytest.raises(DataError, match="file not found"):
        MovieLensReader(tmp_path / "nowhere")


def _fake_zip(tmp_path):
    z = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(z, "w") as f:
        for p in FAKE_ML100K.iterdir():
            f.write(p, f"ml-100k/{p.name}")
    return z, hashlib.sha256(z.read_bytes()).hexdigest()


def test_download_checks_the_checksum_and_unpacks(tmp_path):
    z, digest = _fake_zip(tmp_path)
    out = download_movielens(tmp_path / "dest", url=z.as_uri(), sha256=digest)
    assert out == tmp_path / "dest" / "ml-100k" and (out / "u.data").is_file()
    assert len(next(MovieLensReader(out).chunks())) == 10
    assert download_movielens(tmp_path / "dest", url="file:///nonexistent", sha256=digest) == out
    with pytest.raises(DataError, match="checksum mismatch"):
        download_movielens(tmp_path / "other", url=z.as_uri(), sha256="0" * 64)
    assert not any((tmp_path / "other").glob("*.part")) and not (tmp_path / "other" / "ml-100k").exists()
    with pytest.raises(DataError, match="download failed"):
        download_movielens(tmp_path / "third", url=(tmp_path / "missing.zip").as_uri(), sha256=digest)

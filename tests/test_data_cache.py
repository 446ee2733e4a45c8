"""On-disk cache: same arrays as in memory, batches cover every row once, block shuffling, bad caches."""
import json

import numpy as np
import pytest

from deepfm_np.data import CachedDataset, CriteoReader, build_cache, encode, fit_encoder
from deepfm_np.data.preprocess import Encoder
from deepfm_np.data.dataset import ArrayDataset
from deepfm_np.errors import DataError
from fixtures.fake_data import criteo_rows, write_criteo


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("cache")
    path = write_criteo(d / "train.txt", criteo_rows(1000, seed=11))
    reader = CriteoReader(path, block_bytes=20_000)            # several chunks
    enc = fit_encoder(reader, min_count=2)
    mem = encode(reader, enc)
    ds = build_cache(reader, enc, d / "c")
    return d, reader, enc, mem, ds


def test_cache_holds_exactly_the_encoded_rows(setup):
    d, reader, enc, mem, ds = setup
    assert ds.n == len(ds) == 1000 and ds.layout == enc.layout
    full = ds.to_memory()
    np.testing.assert_array_equal(full.idx, mem.idx)
    np.testing.assert_array_equal(full.val, mem.val)
    np.testing.assert_array_equal(full.y, mem.y)
    assert (d / "c" / "idx.i32").stat().st_size == 1000 * 39 * 4
    assert ds.header["stats"]["rows"] == 1000 and ds.header["read"]["rows"] == 1000


def test_sequential_batches_match_array_dataset(setup):
    _, _, _, mem, ds = setup
    small = CachedDataset(ds.directory, block_rows=64)
    ref = ArrayDataset(mem.idx, mem.val, mem.y, mem.layout)
    for (a, b, c), (x, v, y) in zip(small.iter_batches(100), ref.iter_batches(100), strict=True):
        assert a.dtype == np.int64 and b.dtype == np.float32 and c.dtype == np.float32
        np.testing.assert_array_equal(a, x)
        np.testing.assert_array_equal(b, v)
        np.testing.assert_array_equal(c, y)


def test_block_shuffle_visits_every_row_once_and_is_seeded(setup):
    _, _, _, mem, ds = setup
    small = CachedDataset(ds.directory, block_rows=64)
    key = {tuple(r): i for i, r in enumerate(mem.idx.tolist())}   # rows to positions (rows may repeat)

    def epoch(seed):
        batches = list(small.iter_batches(30, np.random.default_rng(seed), shuffle=True))
        assert all(len(b[2]) == 30 for b in batches[:-1]) and len(batches[-1][2]) == 1000 % 30
        return np.concatenate([b[0] for b in batches]), np.concatenate([b[2] for b in batches])

    idx1, y1 = epoch(0)
    idx2, _ = epoch(0)
    idx3, _ = epoch(1)
    np.testing.assert_array_equal(idx1, idx2)
    assert not np.array_equal(idx1, idx3)
    assert sorted(map(tuple, idx1.tolist())) == sorted(map(tuple, mem.idx.tolist()))
    assert y1.sum() == mem.y.sum()
    first = [key[tuple(r)] for r in idx1[:64].tolist()]
    assert first != sorted(first)                                   # shuffled inside blocks
    with pytest.raises(ValueError, match="rng"):
        next(small.iter_batches(10, shuffle=True))


def test_take(setup):
    _, _, _, mem, ds = setup
    rows = np.array([999, 0, 500, 0, 33])
    t = CachedDataset(ds.directory, block_rows=100).take(rows)
    assert isinstance(t, ArrayDataset)
    np.testing.assert_array_equal(t.idx, mem.idx[rows])
    np.testing.assert_array_equal(t.y, mem.y[rows])
    with pytest.raises(IndexError):
        ds.take([1000])


def test_bad_caches_are_refused(setup, tmp_path):
    d, reader, enc, _, ds = setup
    import shutil
    c = tmp_path / "copy"
    shutil.copytree(ds.directory, c)
    with open(c / "val.f32", "r+b") as f:
        f.truncate(1000 * 39 * 4 - 4)
    with pytest.raises(DataError, match=r"val.f32: cache file has .* bytes, expected"):
        CachedDataset(c)
    (c / "header.json").unlink()
    with pytest.raises(DataError, match="not a finished cache"):
        CachedDataset(c)
    (c / "header.json").write_text("{")
    with pytest.raises(DataError, match="not valid JSON"):
        CachedDataset(c)
    h = dict(ds.header, version=99)
    (c / "header.json").write_text(json.dumps(h))
    with pytest.raises(DataError, match="version 99"):
        CachedDataset(c)
    other = Encoder(reader.columns, min_count=1).fit(reader.chunks())
    with pytest.raises(DataError, match="different encoder"):
        CachedDataset(ds.directory, encoder=other)
    assert CachedDataset(ds.directory, encoder=enc).n == 1000
    with pytest.raises(ValueError, match="fitted"):
        build_cache(reader, Encoder(reader.columns), tmp_path / "x")

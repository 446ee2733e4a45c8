"""The Criteo reader and preprocessing on the real 8,000-row sample in ../shared/data (skipped if absent)."""
from pathlib import Path

import numpy as np
import pytest

from deepfm_np.data import CriteoReader, Encoder, build_cache, encode, fit_encoder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "criteo_sample"
pytestmark = pytest.mark.skipif(not (DATA / "train.txt").is_file(),
                                reason=f"real Criteo sample not found at {DATA} (it is not shipped with the repo)")


@pytest.fixture(scope="module")
def fitted():
    tr = CriteoReader(DATA / "train.txt")
    return tr, fit_encoder(tr, min_count=2)


def test_row_counts_labels_and_layout(fitted):
    tr, enc = fitted
    d = encode(tr, enc)
    assert d.n == 7200 and tr.stats.skipped == 0
    assert 0.15 < d.y.mean() < 0.3                                   # positive rate about 0.22
    assert enc.layout.n_fields == 39 and enc.layout.n_slots == 39
    enc.layout.validate(d.idx, d.val)
    assert (d.val == 1).all()                                        # all fields bucketed/categorical
    # every field's OOV row is used by some training row (min_count=2 leaves singletons there)
    offsets = enc.layout.offsets
    used_oov = [(d.idx[:, f] == offsets[f]).any() for f in range(39)]
    assert sum(used_oov) >= 30


def test_dev_and_test_use_train_vocabularies_only(fitted):
    tr, enc = fitted
    for name, rows in (("dev.txt", 409), ("test.txt", 391)):
        d = encode(CriteoReader(DATA / name), enc)
        assert d.n == rows
        enc.layout.validate(d.idx, d.val)
        assert 0.0 < d.stats.oov_rate < 0.5
    # a vocabulary fitted on train+test would know more values than the train-only one
    both = Encoder(tr.columns, min_count=1).fit(
        list(CriteoReader(DATA / "train.txt").chunks()) + list(CriteoReader(DATA / "test.txt").chunks()))
    only = Encoder(tr.columns, min_count=1).fit(CriteoReader(DATA / "train.txt").chunks())
    assert both.layout.n_rows > only.layout.n_rows
    d = encode(CriteoReader(DATA / "test.txt"), only)
    assert d.stats.oov_rate > 0                                      # test-only values: OOV, not rows


def test_streaming_cache_equals_memory(fitted, tmp_path):
    tr, enc = fitted
    small = CriteoReader(DATA / "train.txt", block_bytes=100_000)
    ds = build_cache(small, enc, tmp_path / "c")
    mem = encode(tr, enc)
    got = np.concatenate([b[0] for b in ds.iter_batches(1000)])
    np.testing.assert_array_equal(got, mem.idx)

"""Seeded holdout of one file: stable across passes and chunkings, disjoint, fitted on its train part."""
import numpy as np
import pytest

from deepfm_np.data import CriteoReader, HoldoutReader, encode, fit_encoder
from deepfm_np.data.split import holdout_mask
from deepfm_np.errors import DataError
from fixtures.fake_data import criteo_rows, write_criteo


def lines(reader):
    return np.concatenate([c.lines for c in reader.chunks()])


def test_parts_are_disjoint_complete_and_seeded(tmp_path):
    p = write_criteo(tmp_path / "t.txt", criteo_rows(2000, seed=12))
    tr = lines(HoldoutReader(CriteoReader(p), 0.1, seed=5, part="train"))
    va = lines(HoldoutReader(CriteoReader(p, block_bytes=3000), 0.1, seed=5, part="valid"))
    assert set(tr.tolist()).isdisjoint(va.tolist())
    assert sorted(tr.tolist() + va.tolist()) == list(range(1, 2001))
    assert 140 < len(va) < 260                                     # about 10%
    va2 = lines(HoldoutReader(CriteoReader(p), 0.1, seed=6, part="valid"))
    assert not np.array_equal(va, va2)
    np.testing.assert_array_equal(holdout_mask(np.arange(1, 50), 0.3, 1),
                                  holdout_mask(np.arange(1, 50), 0.3, 1))


def test_rows_follow_their_line_and_encoder_fits_on_train_part(tmp_path):
    rows = criteo_rows(300, seed=13)
    p = write_criteo(tmp_path / "t.txt", rows)
    tr = HoldoutReader(CriteoReader(p), 0.2, seed=0, part="train")
    va = HoldoutReader(CriteoReader(p), 0.2, seed=0, part="valid")
    c = next(va.chunks())
    for k, line in enumerate(c.lines.tolist()[:10]):
        assert c.y[k] == float(rows[line - 1][0])
        assert c.columns["C1"].to_strings()[k] == rows[line - 1][14]
    enc = fit_encoder(tr, min_count=1)
    assert enc.fit_rows == len(lines(tr))
    d = encode(va, enc)
    assert d.n == len(c)
    with pytest.raises(DataError, match="holdout is empty"):
        list(HoldoutReader(CriteoReader(write_criteo(tmp_path / "one.txt", rows[:1])), 0.01,
                           part="valid").chunks())


def test_stratified_holdout_keeps_both_classes_in_proportion(tmp_path):
    """A 1% file: the held-out part gets round(fraction * positives) of them, in every chunking."""
    rng = np.random.default_rng(0)
    y = (rng.random(5000) < 0.01).astype(int)
    p = tmp_path / "rare.txt"
    p.write_text("".join(f"{v}\t" + "\t".join(["1"] * 13) + "\t" + "\t".join(["0000abcd"] * 26) + "\n" for v in y))
    P = int(y.sum())
    for block in (3000, 1 << 20):
        va = HoldoutReader(CriteoReader(p, block_bytes=block), 0.1, seed=3, part="valid")
        tr = HoldoutReader(CriteoReader(p, block_bytes=block), 0.1, seed=3, part="train")
        vy = np.concatenate([c.y for c in va.chunks()])
        ty = np.concatenate([c.y for c in tr.chunks()])
        assert abs(vy.sum() - 0.1 * P) <= 1 and vy.sum() + ty.sum() == P
        assert abs(len(vy) - 500) <= 2 and len(vy) + len(ty) == 5000

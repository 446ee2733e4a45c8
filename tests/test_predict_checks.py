"""The predict path's fast parts against their slow twins: predict_proba's id check (models/base.py
check_ids) against FieldLayout.validate, and predict's text output (commands/predict_cmd.py format_lines)
against one f-string per row.

check_ids decides "every id in range" from per-slot minima and maxima; anything else goes to validate.
So the two must agree on every array: both pass, or both raise the very same message. The arrays
below put single bad ids at every slot, just below and just above the slot's rows (the boundaries are
where a min/max test could be off by one), on a layout with a multi-valued field (slots != fields).
"""
import numpy as np
import pytest

from deepfm_np.fields import FieldLayout
from deepfm_np.layers.activations import sigmoid
from deepfm_np.models.base import check_ids
from deepfm_np.models.registry import build_model

LAYOUT = FieldLayout(names=("a", "tags", "b"), sizes=(4, 6, 3), kinds=("categorical", "multi", "categorical"),
                     widths=(1, 3, 1))                  # slots: a | tags tags tags | b


def _good(n, rng, layout=LAYOUT):
    lo = layout.offsets[layout.slot_field]
    size = np.asarray(layout.sizes)[layout.slot_field]
    return lo + rng.integers(0, size, size=(n, layout.n_slots))          # (n, S) every id in range


def _outcome(fn, idx):
    try:
        fn(idx)
    except ValueError as e:
        return str(e)
    return None


def _same(idx):
    got, want = _outcome(lambda a: check_ids(LAYOUT, a), idx), _outcome(LAYOUT.validate, idx)
    assert got == want
    return got


def test_in_range_arrays_pass_both():
    rng = np.random.default_rng(0)
    for n in (1, 2, 50):
        idx = _good(n, rng)
        assert _same(idx) is None
    lo = LAYOUT.offsets[LAYOUT.slot_field]
    hi = lo + np.asarray(LAYOUT.sizes)[LAYOUT.slot_field] - 1
    assert _same(np.stack([lo, hi])) is None                             # each slot's first and last row


@pytest.mark.parametrize("side", ["below", "above"])
def test_one_bad_id_at_every_slot_and_row_gives_validates_message(side):
    rng = np.random.default_rng(1)
    lo = LAYOUT.offsets[LAYOUT.slot_field]
    hi = lo + np.asarray(LAYOUT.sizes)[LAYOUT.slot_field]
    for s in range(LAYOUT.n_slots):
        for b in (0, 3, 6):
            idx = _good(7, rng)
            idx[b, s] = lo[s] - 1 if side == "below" else hi[s]          # a neighbour field's row, or -1
            msg = _same(idx)
            assert msg is not None and msg.startswith(f"row {b}: id {idx[b, s]} in field")


def test_several_bad_ids_name_the_first_like_validate():
    rng = np.random.default_rng(2)
    idx = _good(9, rng)
    idx[5, 0], idx[2, 4] = 99, -3
    assert _same(idx).startswith("row 2: id -3 in field 'b'")


@pytest.mark.parametrize("idx", [np.zeros((0, 5), np.int64), np.zeros((3, 4), np.int64), np.zeros(5, np.int64),
                                 np.zeros((2, 5), np.float64), np.zeros((2, 5), np.int32),
                                 np.zeros((2, 5), np.uint64)])
def test_shapes_dtypes_and_empty_arrays_behave_as_validate(idx):
    _same(idx)


def test_non_contiguous_and_list_inputs():
    rng = np.random.default_rng(3)
    big = _good(20, rng)
    _same(big[::2])                                                      # a strided view
    bad = big.copy()
    bad[7, 2] = 10_000
    _same(bad[1::3])
    _same(bad.tolist())


def _predict_proba_before(model, idx, val, batch_size):
    """predict_proba as it was before check_ids: layout.validate, then the same batches."""
    model.layout.validate(idx)
    out = np.empty(idx.shape[0], dtype=np.float64)
    for start in range(0, idx.shape[0], batch_size):
        sl = slice(start, start + batch_size)
        logits, _ = model._forward(idx[sl], np.asarray(val[sl], dtype=model.dtype), False, None)
        out[sl] = sigmoid(logits.astype(np.float64))
    return out


@pytest.mark.parametrize("name", ["lr", "fm", "deepfm"])
def test_predict_proba_raises_validates_error_and_keeps_its_probabilities(name):
    """The check changed, the arithmetic did not: bit for bit the probabilities of the old path."""
    rng = np.random.default_rng(4)
    model = build_model(name, LAYOUT, **({} if name == "lr" else dict(embed_dim=3)),
                        **(dict(hidden=(5,)) if name == "deepfm" else {}), seed=0)
    for k, v in model.params.items():                                    # non-trivial weights
        v[...] = rng.standard_normal(v.shape).astype(v.dtype) * 0.5
    idx = _good(37, rng)
    val = rng.random(idx.shape).astype(np.float32)
    for batch in (1, 8, 37, 4096):
        np.testing.assert_array_equal(model.predict_proba(idx, val, batch),
                                      _predict_proba_before(model, idx, val, batch))
    bad = idx.copy()
    bad[11, 4] = LAYOUT.offsets[2] - 1                                   # tags' last row in b's slot
    with pytest.raises(ValueError) as err:
        model.predict_proba(bad, val)
    assert str(err.value) == _outcome(LAYOUT.validate, bad)


# ---- predict's text output: one %-format per batch against one f-string per row ---------------------------
def _format_rows(p, lines=None, sep="\t"):
    """The obvious twin of predict_cmd.format_lines: one f-string per row."""
    if lines is None:
        return "".join(f"{x:.17g}\n" for x in p.tolist())
    return "".join(f"{n}{sep}{x:.17g}\n" for n, x in zip(lines.tolist(), p.tolist()))


def test_format_lines_is_the_per_row_text_exactly():
    from deepfm_np.commands.predict_cmd import format_lines
    rng = np.random.default_rng(5)
    p = np.concatenate([rng.random(500), [0.0, 1.0, 5e-324, 1e-300, 0.1, 1 / 3, np.nextafter(1.0, 0.0),
                                          0.5, 1e-17, 0.9999999999999999]])
    lines = np.sort(rng.choice(10**9, size=p.size, replace=False)).astype(np.int64) + 1
    for sep in ("\t", ","):
        assert format_lines(p, lines, sep) == _format_rows(p, lines, sep)
    assert format_lines(p) == _format_rows(p)
    assert [float(x) for x in format_lines(p).splitlines()] == p.tolist()          # it reads back exactly
    empty = np.zeros(0)
    assert format_lines(empty) == "" and format_lines(empty, np.zeros(0, np.int64), ",") == ""

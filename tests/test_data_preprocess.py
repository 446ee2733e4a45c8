"""Preprocessing: buckets, values, vocabularies with min_count, leakage, OOV, multi-valued slots, state."""
import json
import zlib

import numpy as np
import pytest

from deepfm_np.data.numeric import bucket_codes, bucket_name, value_encode
from deepfm_np.data.preprocess import Encoder
from deepfm_np.data.raw import ColumnSpec, PackedStrings, RawChunk, SparseEntries, TokenLists, pack_string
from deepfm_np.data.vocab import stable_hash
from deepfm_np.fields import FieldLayout


def chunk(y, **columns):
    y = np.asarray(y, dtype=np.float32)
    return RawChunk("mem", np.arange(1, len(y) + 1), y, columns)


CAT = (ColumnSpec("c", "categorical"),)


# ---- numeric buckets ----------------------------------------------------------------------------
def test_small_values_never_share_a_bucket():
    x = np.array([np.nan, -5.0, -1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, np.inf])
    codes = bucket_codes(x)
    assert codes.tolist() == [0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 0]
    # each of missing, negative, 0, 1, 2 and the first log bucket is a different code
    distinct = bucket_codes(np.array([np.nan, -1.0, 0.0, 1.0, 2.0, 2.5]))
    assert len(set(distinct.tolist())) == 6


def test_log_buckets_follow_floor_ln_squared():
    v = np.array([3.0, 10.0, 100.0, 1000.0, 123456.0])
    np.testing.assert_array_equal(bucket_codes(v), 7 + np.floor(np.log(v) ** 2).astype(np.int64))
    assert bucket_name(2) == "0" and bucket_name(0) == "missing" and "floor" in bucket_name(9)


def test_distinct_small_values_get_distinct_rows_after_fit():
    spec = (ColumnSpec("x", "numeric"),)
    x = np.array([np.nan, -2.0, 0.0, 1.0, 2.0, 3.0])
    enc = Encoder(spec, min_count=1).fit([chunk(np.zeros(6), x=x)])
    out = enc.transform(chunk(np.zeros(6), x=x))
    assert len(set(out.idx[:, 0].tolist())) == 6 and (out.idx[:, 0] > 0).all()
    assert (out.val == 1).all()


def test_value_mode():
    local, val = value_encode(np.array([np.nan, 0.0, 1.0, -1.0, 100.0, np.inf]))
    assert local.tolist() == [0, 1, 1, 1, 1, 0]
    np.testing.assert_allclose(val, [1.0, 0.0, np.log(2), -np.log(2), np.log(101), 1.0], rtol=1e-6)
    enc = Encoder((ColumnSpec("x", "numeric", mode="value"),)).fit(
        [chunk([0, 1], x=np.array([1.0, np.nan]))])
    assert enc.layout.kinds == ("numeric",) and enc.layout.sizes == (2,)
    enc2 = Encoder((ColumnSpec("x", "numeric"),), numeric="value").fit([chunk([0], x=np.array([1.0]))])
    assert enc2.layout.kinds == ("numeric",)


# ---- vocabularies, min_count, OOV, leakage ---------------------------------------------------------
def test_min_count_sends_rare_values_to_the_oov_row():
    train = chunk(np.zeros(6), c=["a", "a", "a", "b", "b", "rare"])
    enc = Encoder(CAT, min_count=2).fit([train])
    assert enc.layout.sizes == (3,)                     # OOV + a + b
    out = enc.transform(train)
    assert out.idx[:, 0].tolist() == [1, 1, 1, 2, 2, 0]  # most frequent first; rare -> OOV row 0
    assert out.stats.oov == {"c": 1}


def test_values_only_in_test_get_the_oov_row_never_their_own():
    train = chunk(np.zeros(4), c=["a", "b", "a", "b"])
    test = chunk(np.zeros(4), c=["a", "only-in-test", "only-in-test", "b"])
    enc = Encoder(CAT, min_count=1).fit([train])
    vocab_before = json.dumps(enc.to_dict())
    out = enc.transform(test)
    assert out.idx[:, 0].tolist() == [enc.layout.offsets[0] + 1, 0, 0, 2]
    assert "only-in-test" not in json.dumps(enc.to_dict())
    assert json.dumps(enc.to_dict()) == vocab_before    # transform never changes the state
    assert out.stats.oov == {"c": 2} and out.stats.values == {"c": 4}
    assert out.stats.oov_rate == 0.5


def test_vocabulary_does_not_depend_on_chunking_or_order():
    vals = ["x", "y", "z", "y", "z", "z", "w"]
    a = Encoder(CAT, min_count=1).fit([chunk(np.zeros(7), c=vals)])
    b = Encoder(CAT, min_count=1).fit([chunk(np.zeros(3), c=vals[4:][::-1]),
                                       chunk(np.zeros(4), c=vals[:4])])
    assert a.to_dict()["codecs"] == b.to_dict()["codecs"]
    assert a.to_dict()["codecs"][0]["tokens"] == ["z", "y", "w", "x"]   # by count, ties by value


def test_packed_and_python_strings_give_the_same_ids():
    vals = ["a", "", "0149d0be", "é", "a", "long-value-over-8"]
    keys = np.array([pack_string(v) or 0 for v in vals[:5]], dtype=np.uint64)
    enc = Encoder(CAT, min_count=1).fit([chunk(np.zeros(5), c=PackedStrings(keys)),
                                         chunk(np.zeros(1), c=vals[5:])])
    ids_py = enc.transform(chunk(np.zeros(6), c=vals)).idx[:, 0]
    ids_packed = enc.transform(chunk(np.zeros(5), c=PackedStrings(keys))).idx[:, 0]
    np.testing.assert_array_equal(ids_py[:5], ids_packed)
    assert (ids_py > 0).all() and len(set(ids_py.tolist())) == 5


def test_global_rows_use_the_layout_offsets():
    spec = (ColumnSpec("a", "categorical"), ColumnSpec("b", "categorical"))
    c = chunk(np.zeros(3), a=["p", "q", "p"], b=["r", "s", "t"])
    enc = Encoder(spec, min_count=1).fit([c])
    out = enc.transform(c)
    assert enc.layout.sizes == (3, 4)
    np.testing.assert_array_equal(out.idx[:, 1] - 3, [1, 2, 3])
    enc.layout.validate(out.idx, out.val)
    assert out.idx.dtype == np.int64 and out.val.dtype == np.float32 and out.y.dtype == np.float32


# ---- hashing mode ---------------------------------------------------------------------------------
def test_stable_hash_is_crc32_and_the_same_for_all_input_forms():
    vals = ["a", "hello", "", "é"]
    expected = [1 + zlib.crc32(v.encode()) % 1000 for v in vals]
    assert stable_hash(vals, 1000).tolist() == expected
    keys = np.array([pack_string(v) for v in vals], dtype=np.uint64)
    assert stable_hash(PackedStrings(keys), 1000).tolist() == expected
    assert stable_hash(np.array([7, 42]), 1000).tolist() == [1 + zlib.crc32(b"7") % 1000,
                                                             1 + zlib.crc32(b"42") % 1000]
    # a value fixed for all time: crc32(b"hello") = 0x3610a686
    assert stable_hash(["hello"], 2 ** 32).tolist() == [1 + 0x3610A686]


def test_hashing_mode_has_fixed_size_and_no_oov():
    enc = Encoder(CAT, hash_buckets=16).fit([chunk([0, 0], c=["a", "b"])])
    assert enc.layout.sizes == (17,)
    out = enc.transform(chunk([0, 0, 0], c=["a", "never-seen", "b"]))
    assert (out.idx[:, 0] >= 1).all() and (out.idx[:, 0] <= 16).all()
    assert out.stats.oov == {"c": 0}


# ---- multi-valued fields ---------------------------------------------------------------------------
def test_multi_slots_mean_pooling_weights_and_padding():
    spec = (ColumnSpec("g", "multi"),)
    train = TokenLists.from_lists([["a", "b"], ["a"], ["a", "b", "c"], []])
    enc = Encoder(spec, min_count=1).fit([chunk(np.zeros(4), g=train)])
    assert enc.layout.kinds == ("multi",) and enc.layout.widths == (3,)
    out = enc.transform(chunk(np.zeros(4), g=train))
    a, b, c = 1, 2, 3
    assert out.idx.tolist() == [[a, b, 0], [a, 0, 0], [a, b, c], [0, 0, 0]]
    np.testing.assert_allclose(out.val, [[0.5, 0.5, 0], [1, 0, 0], [1 / 3] * 3, [0, 0, 0]], rtol=1e-7)
    # sum over slots of val * E[idx] is the mean of the values' embeddings; padding adds exactly 0
    E = np.random.default_rng(0).normal(size=(enc.layout.n_rows, 4))
    pooled = (out.val[:, :, None] * E[out.idx]).sum(axis=1)
    np.testing.assert_allclose(pooled[0], (E[a] + E[b]) / 2, rtol=1e-6)
    np.testing.assert_allclose(pooled[2], (E[a] + E[b] + E[c]) / 3, rtol=1e-6)
    assert (pooled[3] == 0).all()


def test_multi_truncation_and_oov_tokens():
    spec = (ColumnSpec("g", "multi"),)
    enc = Encoder(spec, min_count=1, max_width=2).fit(
        [chunk([0, 0], g=TokenLists.from_lists([["a", "b", "c"], ["a"]]))])
    assert enc.layout.widths == (2,)
    out = enc.transform(chunk([0, 0], g=TokenLists.from_lists([["a", "new", "b"], ["zzz"]])))
    assert out.idx.tolist() == [[1, 0], [0, 0]]
    np.testing.assert_allclose(out.val, [[0.5, 0.5], [1.0, 0.0]])
    assert out.stats.truncated == {"g": 1} and out.stats.oov == {"g": 2}


def test_sparse_entries_keep_their_values_and_fields():
    spec = (ColumnSpec("f", "sparse"),)
    col = SparseEntries(indptr=np.array([0, 3, 4]), fields=np.array([0, 1, 1, 1]),
                        features=np.array([5, 7, 8, 7]), values=np.array([1.0, 0.5, 2.0, 3.0]))
    enc = Encoder(spec, min_count=1).fit([chunk([1, 0], f=col)])
    assert enc.layout.names == ("f0", "f1") and enc.layout.widths == (1, 2)
    out = enc.transform(chunk([1, 0], f=col))
    f1 = enc.layout.offsets[1]
    assert out.idx.tolist() == [[1, f1 + 1, f1 + 2], [0, f1 + 1, f1 + 0]]   # padding: field's local 0
    np.testing.assert_allclose(out.val, [[1.0, 0.5, 2.0], [0.0, 3.0, 0.0]])
    unknown = SparseEntries(np.array([0, 1]), np.array([9]), np.array([5]), np.array([1.0]))
    assert enc.transform(chunk([0], f=unknown)).stats.unknown_fields == 1


# ---- JSON state --------------------------------------------------------------------------------------
def test_state_round_trips_through_json_and_gives_identical_output():
    spec = (ColumnSpec("c", "categorical"), ColumnSpec("x", "numeric"),
            ColumnSpec("v", "numeric", mode="value"), ColumnSpec("g", "multi"), ColumnSpec("s", "sparse"))
    rng = np.random.default_rng(1)
    n = 50

    def make(seed_shift):
        r = np.random.default_rng(seed_shift)
        lists = [[f"t{k}" for k in r.integers(0, 6, r.integers(0, 4))] for _ in range(n)]
        lens = r.integers(0, 3, n)
        indptr = np.r_[0, np.cumsum(lens)]
        return chunk(r.integers(0, 2, n),
                     c=[f"v{k}" for k in r.integers(0, 10, n)],
                     x=np.where(r.random(n) < 0.2, np.nan, r.integers(-2, 50, n).astype(float)),
                     v=r.normal(size=n) * 10,
                     g=TokenLists.from_lists(lists),
                     s=SparseEntries(indptr, r.integers(0, 2, indptr[-1]), r.integers(0, 9, indptr[-1]),
                                     r.random(indptr[-1])))

    enc = Encoder(spec, min_count=2).fit([make(1)])
    state = json.loads(json.dumps(enc.to_dict()))
    enc2 = Encoder.from_dict(state)
    assert enc2.layout == enc.layout
    test = make(2)
    a, b = enc.transform(test), enc2.transform(test)
    np.testing.assert_array_equal(a.idx, b.idx)
    np.testing.assert_array_equal(a.val, b.val)
    assert isinstance(enc.layout, FieldLayout)
    enc.layout.validate(a.idx, a.val)
    del rng


def test_bad_state_and_misuse_are_refused():
    enc = Encoder(CAT, min_count=1)
    with pytest.raises(RuntimeError, match="before fit"):
        enc.transform(chunk([0], c=["a"]))
    enc.fit([chunk([0], c=["a"])])
    state = enc.to_dict()
    with pytest.raises(ValueError, match="version"):
        Encoder.from_dict({**state, "version": 99})
    bad = json.loads(json.dumps(state))
    bad["layout"]["sizes"] = [5]
    with pytest.raises(ValueError, match="layout"):
        Encoder.from_dict(bad)
    with pytest.raises(ValueError, match="no column"):
        enc.transform(chunk([0], other=["a"]))
    with pytest.raises(ValueError, match="numeric mode"):
        Encoder(CAT, numeric="log")
    with pytest.raises(ValueError, match="no training rows"):
        Encoder(CAT).finish()


# ---- the NumPy hash table and integer vocabularies against plain dicts ----------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from deepfm_np.data.vocab import IntVocab, KeyTable  # noqa: E402

U64 = st.integers(0, 2 ** 64 - 2)


@settings(max_examples=200, deadline=None)
@given(st.lists(U64, unique=True, max_size=60), st.lists(U64, max_size=60), st.booleans())
def test_key_table_matches_a_dict(keys, queries, clustered):
    if clustered:                    # keys that share low bits collide in the table: long probe runs
        keys = sorted({k << 40 for k in keys if k < 2 ** 24})
        queries = [q << 40 for q in queries if q < 2 ** 24]
    ids = np.arange(1, len(keys) + 1, dtype=np.int64)
    table = KeyTable(np.array(keys, dtype=np.uint64), ids)
    ref = dict(zip(keys, ids.tolist()))
    x = np.array(queries + keys + [2 ** 64 - 1], dtype=np.uint64)
    assert table.lookup(x).tolist() == [ref.get(q, 0) for q in x.tolist()]


def test_key_table_edge_cases():
    empty = KeyTable(np.empty(0, np.uint64), np.empty(0, np.int64))
    assert empty.lookup(np.array([0, 5], dtype=np.uint64)).tolist() == [0, 0]
    assert empty.lookup(np.empty(0, np.uint64)).shape == (0,)
    with pytest.raises(ValueError, match="2\\^64 - 1"):
        KeyTable(np.array([2 ** 64 - 1], dtype=np.uint64), np.array([1]))


def test_int_vocab_stores_minus_one_in_its_hash_table_mode():
    """-1 is KeyTable's empty marker as uint64 (found by hypothesis: IntVocab([-1, 65535]) raised)."""
    for values in ([-1, 65535], [65535, -1, 10 ** 12], [65535, 10 ** 12]):
        vocab = IntVocab(values)
        assert vocab._table is not None                          # the hash-table mode, not the dense array
        ref = {v: i + 1 for i, v in enumerate(values)}
        q = [-1, -2, 0, 65535, 10 ** 12, 2 ** 63 - 1]
        assert vocab.lookup(np.array(q)).tolist() == [ref.get(v, 0) for v in q]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-2 ** 62, 2 ** 62), unique=True, max_size=40),
       st.lists(st.integers(-2 ** 62, 2 ** 62), max_size=40), st.booleans())
def test_int_vocab_dense_and_hashed_agree_with_a_dict(values, queries, small):
    if small:
        values = [v % 1000 for v in values]
        values = list(dict.fromkeys(values))
    vocab = IntVocab(values)
    ref = {v: i + 1 for i, v in enumerate(values)}
    x = np.array(queries + values, dtype=np.int64)
    assert vocab.lookup(x).tolist() == [ref.get(q, 0) for q in x.tolist()]

"""Criteo-shaped synthetic click data whose labels come from a hidden teacher.

Real click logs never tell you how good a model *could* be. Here a known
"teacher" draws every label, so the best possible (Bayes-optimal) AUC and log
loss are known, and the teacher's logit is built from parts that match the
models of this project:

    logit = bias
          + first_order     sum_i w[x_i] * val_i                     (what LR can learn)
          + pairwise        sum_{i<j} <v[x_i], v[x_j]>                 (what FM adds)
          + higher_order    sum_t s_t * relu(min(u_t[x_a], u_t[x_b], u_t[x_c])) - mean
    p = sigmoid(logit),  y ~ Bernoulli(p)

The pairwise vectors v are *centered*: each field's vectors have mean zero
under that field's value frequencies, so (fields being drawn independently)
the pairwise part carries no first-order signal and LR cannot absorb it.

The higher-order part is a sum of T "AND gates": gate t fires only when all
three of its fields (a, b, c) take values whose scores u_t are positive - "a
young user AND a sports site AND the evening" - and then adds (or, with
s_t = -1, removes) click probability in proportion to the weakest of the three.
A gate is a genuinely three-way function: no sum of one- and two-field terms
equals it. Unlike a pure product of centered terms it also has one- and
two-field *shadows* (a value that rarely lets the gate fire lowers its mean),
which is what makes it learnable by gradient descent; LR and FM pick up those
shadows, only a model with a deep part can represent the gate itself. So the
partial AUCs (`partial_aucs`) are those of oracles that know each part
exactly, not bounds on what LR or FM reach.

World and sample. Everything about the teacher (vocabularies, value
frequencies, weights, bias) depends only on `seed`, never on n_rows: call
`make_world(seed)` once and `world.sample(n, rng)` as often as you like, or
`make_synthetic(n, seed=..., sample_seed=...)`; rows drawn with different
sample seeds from the same `seed` come from the same world. `split` cuts one
sample into train/valid/test.

Layout (F = 13 + 26 fields, S == F, as in Criteo):
  I1..I13  numeric, 2 rows each: local 0 = missing (val 1.0), local 1 = present
           with val = log1p(count), count ~ Geometric (mean 0.5..30 per field),
           so val lies in [0, ~5]; 5-20% missing per field.
  C1..C26  categorical, vocabularies log-spaced from 10 to 50,000 values (about
           173k table rows in all), each value drawn by a Zipf law
           P(rank r) ~ r^-1.2; local 0 (OOV) takes 1% of rows as "rare" values.

Where the signal sits. The part scales are given as standard deviations of
each part over the data (set exactly on a calibration sample of the world).
Pairwise interactions use only categorical fields of at most 200 values (C1..C9)
and three-way products only fields of at most 100 values (C1..C7), so that with
~200k rows a model sees most values of those fields hundreds of times and can
learn them; the large fields carry first-order signal only, much of it on rare
values that no student can learn (as in real logs).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..fields import FieldLayout
from ..metrics import auc, logloss


@dataclass(frozen=True)
class SyntheticData:
    """N rows drawn from a teacher.

    idx (N, F) int64 global rows; val (N, F) float32; y (N,) float32 in {0, 1};
    p (N,) float64 the teacher's click probability; layout the FieldLayout;
    logit_parts dict of (N,) float64 arrays "bias", "first_order", "pairwise",
    "higher_order" that sum to logit(p); world the Teacher that drew them.
    """

    idx: np.ndarray
    val: np.ndarray
    y: np.ndarray
    p: np.ndarray
    layout: FieldLayout
    logit_parts: dict
    world: "Teacher" = field(repr=False, default=None)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, rows) -> "SyntheticData":
        """The rows `rows` (an index array or boolean mask of length N) as a new SyntheticData."""
        rows = np.asarray(rows)
        return SyntheticData(self.idx[rows], self.val[rows], self.y[rows], self.p[rows], self.layout,
                             {k: v[rows] for k, v in self.logit_parts.items()}, self.world)


@dataclass(frozen=True)
class Teacher:
    """The hidden world: layout, how rows are drawn, and the teacher's parameters.

    R table rows, K interaction size, T triples (gates), C categorical fields.
    w (R,) first-order weights; v (R, K) pairwise vectors (zero outside pair fields);
    u (R, T) gate scores (column t is used by gate t's three fields); triples (T, 3) field
    indices; gate_sign (T,) +1/-1; higher_offset the mean of the raw gate sum (subtracted);
    cdf list of C arrays, each (size,) cumulative value frequencies over local ids;
    missing (n_numeric,) missing rate; mean_count (n_numeric,) mean of the geometric count.
    """

    layout: FieldLayout
    n_numeric: int
    bias: float
    w: np.ndarray
    v: np.ndarray
    u: np.ndarray
    pair_fields: np.ndarray
    triples: np.ndarray
    gate_sign: np.ndarray
    higher_offset: float
    cdf: list = field(repr=False)
    missing: np.ndarray = field(repr=False)
    mean_count: np.ndarray = field(repr=False)

    # ---- drawing rows --------------------------------------------------
    def draw_features(self, n_rows: int, rng: np.random.Generator):
        """Draw idx (N, F) int64 and val (N, F) float32 from the world's value frequencies."""
        L, Fn = self.layout, self.n_numeric
        N = int(n_rows)
        idx = np.empty((N, L.n_fields), dtype=np.int64)
        val = np.ones((N, L.n_fields), dtype=np.float32)
        # Numeric: missing -> local 0 with val 1; else local 1 with val = log1p(count).
        q = 1.0 / (1.0 + self.mean_count)                                   # geometric success prob
        count = rng.geometric(q, size=(N, Fn)) - 1                          # (N, Fn) in {0, 1, ...}
        present = rng.random((N, Fn)) >= self.missing                       # (N, Fn)
        idx[:, :Fn] = L.offsets[:Fn] + present
        val[:, :Fn] = np.where(present, np.log1p(count), 1.0)
        # Categorical: inverse-CDF sampling of the local id, one uniform per cell.
        r = rng.random((N, L.n_fields - Fn))
        for c, cdf in enumerate(self.cdf):
            f = Fn + c
            local = np.minimum(np.searchsorted(cdf, r[:, c], side="right"), cdf.shape[0] - 1)
            idx[:, f] = L.offsets[f] + local
        return idx, val

    def logit_parts(self, idx: np.ndarray, val: np.ndarray, scale=None) -> dict:
        """The teacher's logit split into parts, each (N,) float64. idx (N, F), val (N, F)."""
        val = np.asarray(val, dtype=np.float64)
        N = idx.shape[0]
        first = (self.w[idx] * val).sum(axis=1)                             # (N,)
        # FM identity: sum_{i<j} <v_i, v_j> = 0.5 * (|sum_i v_i|^2 - sum_i |v_i|^2)
        K = self.v.shape[1]
        s = np.zeros((N, K))
        sq = np.zeros(N)
        for f in self.pair_fields:                                          # categorical: val == 1
            e = self.v[idx[:, f]]                                           # (N, K)
            s += e
            sq += (e * e).sum(axis=1)
        pair = 0.5 * ((s * s).sum(axis=1) - sq)
        higher = np.full(N, -self.higher_offset)
        for t, (a, b, c) in enumerate(self.triples):                        # AND gate t
            weakest = np.minimum(np.minimum(self.u[idx[:, a], t], self.u[idx[:, b], t]), self.u[idx[:, c], t])
            higher += self.gate_sign[t] * np.maximum(weakest, 0.0)
        return {"bias": np.full(N, self.bias), "first_order": first,
                "pairwise": pair, "higher_order": higher}

    def sample(self, n_rows: int, rng: np.random.Generator) -> SyntheticData:
        """Draw N rows and their labels: y ~ Bernoulli(sigmoid(sum of logit parts))."""
        idx, val = self.draw_features(n_rows, rng)
        parts = self.logit_parts(idx, val)
        z = parts["bias"] + parts["first_order"] + parts["pairwise"] + parts["higher_order"]
        p = 1.0 / (1.0 + np.exp(-z))
        y = (rng.random(idx.shape[0]) < p).astype(np.float32)
        return SyntheticData(idx, val, y, p, self.layout, parts, self)


def _zipf_cdf(n_values: int, exponent: float, oov_rate: float, rng) -> np.ndarray:
    """Cumulative frequencies over local ids 0..n_values: OOV gets oov_rate, the rest a Zipf law.

    The value of rank r (1 = most frequent) has weight r^-exponent; ranks are
    assigned to local ids by a random permutation so id order says nothing.
    """
    zipf = np.arange(1, n_values + 1, dtype=np.float64) ** -exponent
    prob = np.empty(n_values + 1)
    prob[0] = oov_rate
    prob[1 + rng.permutation(n_values)] = (1.0 - oov_rate) * zipf / zipf.sum()
    cdf = np.cumsum(prob)
    cdf[-1] = 1.0
    return cdf


def _centered_vectors(prob: np.ndarray, k: int, rng) -> np.ndarray:
    """(size, k) standard normal vectors minus their frequency-weighted mean, so E[v[x]] = 0."""
    v = rng.standard_normal((prob.shape[0], k))
    return v - prob @ v


def make_world(seed: int = 0, *, n_numeric: int = 13, n_categorical: int = 26,
               vocab_range=(10, 50_000), zipf_exponent: float = 1.2, oov_rate: float = 0.01,
               missing_range=(0.05, 0.2), k: int = 4,
               pair_max_vocab: int = 200, triple_max_vocab: int = 100, n_triples: int = 8,
               first_order_std: float = 1.0, pairwise_std: float = 0.8, higher_order_std: float = 1.2,
               positive_rate: float = 0.25, calibration_rows: int = 20_000,
               gate_code: str = "independent") -> Teacher:
    """Build the teacher of world `seed`; nothing here depends on how many rows are drawn later.

    vocab_range      : (smallest, largest) categorical vocabulary, log-spaced over C1..C26
    zipf_exponent    : value of rank r is drawn with weight r^-zipf_exponent
    oov_rate         : share of each categorical field's rows that land on local id 0 (OOV)
    missing_range    : each numeric field's missing rate is uniform in this range
    k                : size of the teacher's pairwise vectors
    pair_max_vocab   : categorical fields with at most this many values take part in pairwise terms
    triple_max_vocab : fields with at most this many values make up the three-way AND gates
    n_triples        : number of gates, each on a distinct random triple of fields
    first_order_std, pairwise_std, higher_order_std : standard deviation of each logit part over
                       the data (defaults give Bayes AUC ~0.82 and partial AUCs clearly apart)
    positive_rate    : the bias is solved so that the mean click probability equals this
    calibration_rows : rows of the world's own calibration sample used to set the scales and bias
    gate_code        : "independent" - every gate's value scores u_t are drawn afresh (the pairwise and
                       higher-order parts use unrelated codes of each value); "shared" - u_t[x] =
                       <v[x], a_t> for a random direction a_t (K,) per gate, so both parts read ONE
                       code per value, the pairwise vector v[x] (what DeepFM's shared embedding assumes).
                       "shared" needs every gate field to be a pairwise field (triple_max_vocab <=
                       pair_max_vocab).
    """
    if gate_code not in ("independent", "shared"):
        raise ValueError(f"make_world: gate_code must be 'independent' or 'shared', got {gate_code!r}")
    if gate_code == "shared" and triple_max_vocab > pair_max_vocab:
        raise ValueError(f"make_world: gate_code='shared' needs triple_max_vocab ({triple_max_vocab}) <= "
                         f"pair_max_vocab ({pair_max_vocab}): a gate field must have a pairwise vector")
    rng = np.random.default_rng([0, seed])
    lo, hi = vocab_range
    vocab = np.unique(np.round(np.geomspace(lo, hi, n_categorical)).astype(np.int64))
    if vocab.shape[0] != n_categorical:
        raise ValueError(f"make_world: vocab_range {vocab_range} is too narrow for {n_categorical} distinct sizes")
    names = tuple(f"I{i + 1}" for i in range(n_numeric)) + tuple(f"C{i + 1}" for i in range(n_categorical))
    sizes = (2,) * n_numeric + tuple(int(n) + 1 for n in vocab)
    kinds = ("numeric",) * n_numeric + ("categorical",) * n_categorical
    layout = FieldLayout(names, sizes, kinds)
    R, Fn = layout.n_rows, n_numeric

    missing = rng.uniform(*missing_range, size=n_numeric)
    mean_count = np.exp(rng.uniform(np.log(0.5), np.log(30.0), size=n_numeric))
    cdf = [_zipf_cdf(int(n), zipf_exponent, oov_rate, rng) for n in vocab]

    w = rng.standard_normal(R)
    v = np.zeros((R, k))
    pair_fields = np.array([Fn + c for c in range(n_categorical) if vocab[c] <= pair_max_vocab], dtype=np.int64)
    triple_pool = np.array([Fn + c for c in range(n_categorical) if vocab[c] <= triple_max_vocab], dtype=np.int64)
    if pair_fields.shape[0] < 2 or triple_pool.shape[0] < 3:
        raise ValueError(f"make_world: need >= 2 fields with <= {pair_max_vocab} values and >= 3 with "
                         f"<= {triple_max_vocab}; got {pair_fields.shape[0]} and {triple_pool.shape[0]}")
    for f in np.union1d(pair_fields, triple_pool):
        c = f - Fn
        prob = np.diff(cdf[c], prepend=0.0)                                # (size,) value frequencies
        rows = slice(layout.offsets[f], layout.offsets[f] + layout.sizes[f])
        if f in pair_fields:
            v[rows] = _centered_vectors(prob, k, rng)
    # Distinct random triples from the pool (rejection of repeats keeps it simple and exact).
    seen, triples = set(), []
    max_triples = len(triple_pool) * (len(triple_pool) - 1) * (len(triple_pool) - 2) // 6
    while len(triples) < min(n_triples, max_triples):
        t = tuple(sorted(rng.choice(triple_pool, size=3, replace=False).tolist()))
        if t not in seen:
            seen.add(t)
            triples.append(t)
    triples = np.array(triples, dtype=np.int64).reshape(-1, 3)
    T = triples.shape[0]
    u = np.zeros((R, T))                                                   # gate t's value scores
    if gate_code == "shared":
        # one code per value: gate t scores value x by projecting its pairwise vector on a direction a_t
        # (scaled so the scores have unit variance, like the independent ones)
        a = rng.standard_normal((k, T)) / np.sqrt(k)                       # (K, T)
        for t, fields in enumerate(triples):
            for f in fields:
                rows = slice(layout.offsets[f], layout.offsets[f] + layout.sizes[f])
                u[rows, t] = v[rows] @ a[:, t]
    else:
        for t, fields in enumerate(triples):
            for f in fields:
                u[layout.offsets[f]:layout.offsets[f] + layout.sizes[f], t] = rng.standard_normal(layout.sizes[f])
    gate_sign = rng.choice([-1.0, 1.0], size=T)

    # Calibrate on the world's own sample: rescale each part to its target std, then solve the bias.
    raw = Teacher(layout, Fn, 0.0, w, v, u, pair_fields, triples, gate_sign, 0.0, cdf, missing, mean_count)
    cal_idx, cal_val = raw.draw_features(calibration_rows, np.random.default_rng([2, seed]))
    parts = raw.logit_parts(cal_idx, cal_val)
    w = w * first_order_std / parts["first_order"].std()
    # pairwise is quadratic in v, the gates are linear in u: scale by the matching power
    v = v * np.sqrt(pairwise_std / parts["pairwise"].std())
    gate_scale = higher_order_std / parts["higher_order"].std()
    u = u * gate_scale
    higher_offset = float(parts["higher_order"].mean() * gate_scale)
    z = parts["first_order"] * first_order_std / parts["first_order"].std() \
        + parts["pairwise"] * pairwise_std / parts["pairwise"].std() \
        + (parts["higher_order"] * gate_scale - higher_offset)
    bias = _solve_bias(z, positive_rate)
    return Teacher(layout, Fn, bias, w, v, u, pair_fields, triples, gate_sign, higher_offset, cdf, missing,
                   mean_count)


def _solve_bias(z: np.ndarray, rate: float) -> float:
    """b with mean(sigmoid(b + z)) == rate, by bisection (the mean is increasing in b)."""
    lo, hi = -30.0, 30.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if np.mean(1.0 / (1.0 + np.exp(-(mid + z)))) < rate:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def make_synthetic(n_rows: int, seed: int = 0, *, sample_seed: int | None = None, **world_kwargs) -> SyntheticData:
    """Draw n_rows rows from world `seed` with row seed `sample_seed` (defaults to `seed`).

    Same (seed, sample_seed, n_rows, world_kwargs) -> bit-identical data. A different
    sample_seed gives new rows from the same teacher (e.g. a fresh test set).
    """
    world = make_world(seed, **world_kwargs)
    rng = np.random.default_rng([1, seed, seed if sample_seed is None else sample_seed])
    return world.sample(n_rows, rng)


def split(data: SyntheticData, fractions=(0.8, 0.1, 0.1), seed: int = 0):
    """Shuffle rows with `seed` and cut them into len(fractions) parts (e.g. train, valid, test)."""
    fr = np.asarray(fractions, dtype=np.float64)
    if (fr < 0).any() or not np.isclose(fr.sum(), 1.0):
        raise ValueError(f"split: fractions must be >= 0 and sum to 1, got {tuple(fractions)}")
    perm = np.random.default_rng(seed).permutation(len(data))
    cuts = np.round(np.cumsum(fr)[:-1] * len(data)).astype(np.int64)
    return tuple(data.subset(np.sort(part)) for part in np.split(perm, cuts))


def make_splits(rows: int, seed: int = 0):
    """make_synthetic(rows, seed) cut 80/10/10 with the same seed: (train, valid, test) SyntheticData.

    The demo and `compare` use this one split, so their synthetic numbers are comparable.
    """
    return split(make_synthetic(int(rows), seed=seed), (0.8, 0.1, 0.1), seed=seed)


def teacher_metrics(data: SyntheticData) -> dict:
    """Bayes-optimal scores on these rows: AUC and log loss of the teacher's own p."""
    return {"auc": auc(data.y, data.p), "logloss": logloss(data.y, data.p)}


def partial_aucs(data: SyntheticData) -> dict:
    """AUC of the teacher's logit cut after each part: what an oracle LR / FM / full model would reach."""
    lp = data.logit_parts
    first = lp["first_order"]
    return {"first_order": auc(data.y, first),
            "first_order+pairwise": auc(data.y, first + lp["pairwise"]),
            "full": auc(data.y, first + lp["pairwise"] + lp["higher_order"])}

"""DeepFMClassifier: any model of the registry as a scikit-learn binary classifier (extra `sklearn`).

    from deepfm_np.sklearn import DeepFMClassifier
    est = DeepFMClassifier(model="deepfm", embed_dim=8, hidden=(64, 64), epochs=5, random_state=0)
    est.fit(df, y)                        # pandas DataFrame: object/category -> categorical fields,
    est.predict_proba(df_new)[:, 1]       #   numbers -> numeric fields, lists -> multi-valued fields
    est.save("m.npz"); DeepFMClassifier.load("m.npz")      # the library's own model file

Nothing is re-implemented: a column becomes a raw column of data/raw.py (categorical: list of str,
'' = missing; numeric: float64, NaN = missing; multi: TokenLists), the library's Encoder is fitted on
the training rows only (vocabularies, min_count, OOV rows, numeric buckets or values), and the
library's training loop (train.train) trains the model, with early stopping when validation data is
given (validation_fraction or eval_set).

Columns, when X is a NumPy array: `columns` lists one kind per column ("categorical", "numeric",
"bucket", "value" or "multi"), or (name, kind) pairs. Without it, a numeric array is all numeric and an
object array is inferred column by column (all numbers -> numeric, lists -> multi, else categorical).
A DataFrame's kinds come from its dtypes (`columns` may override them by name).

One default differs from the command line: numeric="value" (sign(v) ln(1+|v|) scaling an embedding)
rather than the Criteo count buckets, because scikit-learn data are arbitrary real numbers, often
standardised, and the bucket rule puts every negative number into one bucket.
"""
from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ..data.preprocess import Encoder
from ..data.raw import ColumnSpec, RawChunk, TokenLists

KINDS = {"categorical": ("categorical", None), "numeric": ("numeric", None), "bucket": ("numeric", "bucket"),
         "value": ("numeric", "value"), "multi": ("multi", None)}
SKLEARN_FORMAT = "sklearn"


def _is_missing(v) -> bool:
    if v is None:
        return True
    try:
        import pandas as pd
        return bool(pd.isna(v)) if np.ndim(v) == 0 else False
    except ImportError:                              # pragma: no cover - pandas is part of the extra
        return isinstance(v, float) and np.isnan(v)


def _is_list(v) -> bool:
    return isinstance(v, (list, tuple, set, np.ndarray))


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def _infer_kind(values, dtype=None) -> str:
    """Kind of one column from its dtype, or from its values for object columns."""
    if dtype is not None:
        kind = np.dtype(dtype).kind if not hasattr(dtype, "categories") else "O"
        if kind in "iuf":
            return "numeric"
        if kind == "b":
            return "categorical"
    present = [v for v in values if not (np.ndim(v) == 0 and _is_missing(v))]
    if present and all(_is_list(v) for v in present):
        return "multi"
    if dtype is None and present and all(_is_number(v) for v in present):
        return "numeric"
    return "categorical"


def _categorical(values) -> list:
    return ["" if (np.ndim(v) == 0 and _is_missing(v)) else str(v) for v in values]


def _numeric(values, name) -> np.ndarray:
    try:
        x = np.asarray([np.nan if (np.ndim(v) == 0 and _is_missing(v)) else v for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"column {name!r} is numeric but holds values that are not numbers") from None
    return np.where(np.isfinite(x), x, np.nan)       # inf is missing, as the file readers make it


def _multi(values) -> TokenLists:
    lists = []
    for v in values:
        if _is_list(v):
            lists.append([str(t) for t in v])
        elif np.ndim(v) == 0 and _is_missing(v):
            lists.append([])
        else:
            lists.append([str(v)])                   # a lone value is a list of one
    return TokenLists.from_lists(lists)


class DeepFMClassifier(ClassifierMixin, BaseEstimator):
    """A deepfm_np model (LR, FM, FNN, PNNs, Wide & Deep, DeepFM) as a binary classifier.

    model          : registry name (lr, fm, fnn, ipnn, opnn, pnn, lr_dnn, fm_dnn, deepfm, ...)
    embed_dim, hidden, activation, keep_prob, init_std, pretrain_epochs : the model's (None: model default)
    epochs, batch_size, patience, monitor : the training loop's (train.TrainConfig); early stopping
                   watches validation log loss by default, as `train` does (a calibrated model first)
    optimizer, lr, l2_embed : None: the model's measured defaults (train.MODEL_DEFAULTS, as `train`)
    validation_fraction : hold out this share of the fit rows for early stopping (None: no holdout)
    min_count, numeric, hash_buckets, max_width : the Encoder's (data/preprocess.py)
    columns        : column kinds for NumPy input (see the module docstring)
    random_state   : int / RandomState / None: initial weights, shuffling, dropout, holdout
    verbose        : show the training progress bar
    """

    def __init__(self, model="deepfm", *, embed_dim=10, hidden=(400, 400, 400), activation=None,
                 keep_prob=0.5, init_std=0.01, pretrain_epochs=None, epochs=5, batch_size=1024,
                 optimizer=None, lr=None, l2_embed=None, patience=2, monitor="logloss", validation_fraction=None,
                 min_count=2, numeric="value", hash_buckets=0, max_width=None, columns=None,
                 random_state=None, verbose=False):
        self.model = model
        self.embed_dim = embed_dim
        self.hidden = hidden
        self.activation = activation
        self.keep_prob = keep_prob
        self.init_std = init_std
        self.pretrain_epochs = pretrain_epochs
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.l2_embed = l2_embed
        self.patience = patience
        self.monitor = monitor
        self.validation_fraction = validation_fraction
        self.min_count = min_count
        self.numeric = numeric
        self.hash_buckets = hash_buckets
        self.max_width = max_width
        self.columns = columns
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True              # NaN is "missing", a value of its own
        tags.input_tags.string = True                 # strings are categorical values
        tags.input_tags.categorical = True
        tags.classifier_tags.multi_class = False      # one logit: binary only
        return tags

    # ---- columns -------------------------------------------------------------------------------
    def _column_kinds(self, X, names):
        """[(name, kind key)] for the fit data."""
        user = self.columns
        if user is not None and not isinstance(user, dict):
            user = list(user)
            if len(user) != len(names):
                raise ValueError(f"columns lists {len(user)} kinds but X has {len(names)} columns")
            pairs = [tuple(u) if not isinstance(u, str) else (n, u) for u, n in zip(user, names)]
        else:
            pairs = []
            for j, n in enumerate(names):
                if isinstance(user, dict) and n in user:
                    pairs.append((n, user[n]))
                else:
                    col, dtype = self._column(X, j)
                    pairs.append((n, _infer_kind(col, dtype)))
        for n, k in pairs:
            if k not in KINDS:
                raise ValueError(f"column {n!r}: kind {k!r} is not one of {sorted(KINDS)}")
        if len({str(n) for n, _ in pairs}) != len(pairs):
            raise ValueError(f"column names must be unique, got {[n for n, _ in pairs]}")
        return [(str(n), k) for n, k in pairs]

    @staticmethod
    def _column(X, j):
        """(values of column j, its dtype or None for object columns)."""
        if hasattr(X, "iloc"):
            col = X.iloc[:, j]
            dtype = col.dtype
            if hasattr(dtype, "categories") or dtype == object or not hasattr(dtype, "kind"):
                return col.tolist(), (dtype if hasattr(dtype, "categories") else None)
            if dtype.kind in "iufb":
                return col.to_numpy(dtype=np.float64, na_value=np.nan) if dtype.kind != "b" else col.tolist(), dtype
            return col.tolist(), None
        col = X[:, j]
        return (col.tolist(), None) if col.dtype == object else (col, col.dtype)

    def _check_X(self, X, reset):
        if hasattr(X, "iloc"):
            validate_data(self, X, reset=reset, skip_check_array=True)
            if X.shape[0] < 1:
                raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is required.")
            return X, [str(c) for c in X.columns]
        X = validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False, accept_sparse=False)
        if X.dtype.kind not in "iufbO":
            X = X.astype(object)
        return X, [f"x{j}" for j in range(X.shape[1])]

    def _chunk(self, X, y=None) -> RawChunk:
        """The raw columns of X (and its 0/1 labels) as one RawChunk for the Encoder."""
        cols = {}
        for j, (name, kind) in enumerate(self.columns_):
            values, _ = self._column(X, j)
            base = KINDS[kind][0]
            if base == "numeric":
                cols[name] = _numeric(values, name)
            elif base == "multi":
                cols[name] = _multi(values)
            else:
                cols[name] = _categorical(values)
        n = X.shape[0]
        yy = np.zeros(n, dtype=np.float32) if y is None else np.asarray(y, dtype=np.float32)
        return RawChunk("<X>", np.arange(1, n + 1, dtype=np.int64), yy, cols)

    def _encode(self, X, y=None):
        from ..data.dataset import ArrayDataset
        out = self.encoder_.transform(self._chunk(X, y))
        return ArrayDataset(out.idx, out.val, out.y, self.encoder_.layout, validate=False)

    def _labels(self, y):
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        classes = np.unique(y)
        if classes.shape[0] != 2:
            raise ValueError(f"Only binary classification is supported. y needs exactly 2 classes, "
                             f"got {classes.shape[0]} class(es) {classes.tolist()[:5]}")
        return classes, (y == classes[1]).astype(np.float32)

    # ---- fit / predict ----------------------------------------------------------------------------
    def fit(self, X, y, eval_set=None):
        """Fit the preprocessing and the model on (X, y).

        eval_set : (X_val, y_val) for early stopping (overrides validation_fraction)
        """
        from ..models.registry import build_model
        from ..train import default_config, train

        X, names = self._check_X(X, reset=True)
        classes, y01 = self._labels(y)
        if y01.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but y has {y01.shape[0]}")
        rng = check_random_state(self.random_state)
        seed = self.random_state if isinstance(self.random_state, numbers.Integral) else int(rng.randint(2**31 - 1))
        self.classes_ = classes
        self.columns_ = self._column_kinds(X, names)
        fit_rows, valid = np.arange(X.shape[0]), None
        if eval_set is None and self.validation_fraction is not None:
            if not 0 < self.validation_fraction < 1:
                raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction}")
            fit_rows, valid_rows = _stratified_holdout(y01, self.validation_fraction, seed)
        specs = [ColumnSpec(n, KINDS[k][0], KINDS[k][1]) for n, k in self.columns_]
        encoder = Encoder(specs, min_count=self.min_count, numeric=self.numeric, hash_buckets=self.hash_buckets,
                          max_width=self.max_width)
        Xf = _rows(X, fit_rows)
        self.encoder_ = encoder.fit([self._chunk(Xf, y01[fit_rows])])
        data = self._encode(Xf, y01[fit_rows])
        if eval_set is not None:
            Xv, yv = eval_set
            Xv, _ = self._check_X(Xv, reset=False)
            yv = column_or_1d(yv)
            if not np.isin(yv, classes).all():
                raise ValueError(f"eval_set has labels outside the classes {classes.tolist()}")
            valid = self._encode(Xv, (yv == classes[1]).astype(np.float32))
        elif self.validation_fraction is not None:
            valid = self._encode(_rows(X, valid_rows), y01[valid_rows])
        kw = dict(embed_dim=self.embed_dim, hidden=None if self.hidden is None else tuple(self.hidden),
                  activation=self.activation, keep_prob=self.keep_prob, init_std=self.init_std,
                  pretrain_epochs=self.pretrain_epochs, seed=seed)
        self.model_ = build_model(self.model, self.encoder_.layout, **kw)
        cfg = default_config(self.model, epochs=self.epochs, batch_size=self.batch_size, optimizer=self.optimizer,
                             lr=self.lr, l2_embed=self.l2_embed, patience=self.patience, monitor=self.monitor,
                             seed=seed, progress=bool(self.verbose))
        self.train_result_ = train(self.model_, data, valid, cfg)
        return self

    def decision_function(self, X) -> np.ndarray:
        """The model's logit (N,): > 0 means classes_[1]."""
        check_is_fitted(self, "model_")
        X, _ = self._check_X(X, reset=False)
        data = self._encode(X)
        out = np.empty(data.n, dtype=np.float64)
        for s in range(0, data.n, 8192):
            out[s:s + 8192] = self.model_.forward(data.idx[s:s + 8192], data.val[s:s + 8192], train=False)
        self.model_._cache = None                    # forward keeps what a backward would need
        return out

    def predict_proba(self, X) -> np.ndarray:
        """(N, 2): P(classes_[0]), P(classes_[1])."""
        check_is_fitted(self, "model_")
        X, _ = self._check_X(X, reset=False)
        data = self._encode(X)
        p = self.model_.predict_proba(data.idx, data.val, 8192)
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.classes_[(self.decision_function(X) > 0).astype(np.int64)]

    # ---- the library's model file ------------------------------------------------------------------
    def save(self, path):
        """Write the fitted estimator to one deepfm_np model file (.npz, no pickle); returns its Path."""
        from ..model_file import save_model
        check_is_fitted(self, "model_")
        params = self.get_params()
        params["hidden"] = None if params["hidden"] is None else list(params["hidden"])
        if not isinstance(params["random_state"], (numbers.Integral, type(None))):
            params["random_state"] = None            # a RandomState object is not JSON
        if params["columns"] is not None:
            params["columns"] = (dict(params["columns"]) if isinstance(params["columns"], dict)
                                 else [u if isinstance(u, str) else list(u) for u in params["columns"]])
        reader = {"format": SKLEARN_FORMAT, "columns": [list(c) for c in self.columns_],
                  "classes": self.classes_.tolist(), "classes_dtype": self.classes_.dtype.str,
                  "feature_names_in": (None if not hasattr(self, "feature_names_in_")
                                       else self.feature_names_in_.tolist())}
        return save_model(path, self.model_, self.encoder_, reader,
                          train={"sklearn_params": params, "n_features_in": int(self.n_features_in_)})

    @classmethod
    def load(cls, path) -> "DeepFMClassifier":
        """The estimator saved by `save`, fitted, predicting bit-identically."""
        from ..errors import DataError
        from ..model_file import load_model
        saved = load_model(path)
        if saved.reader.get("format") != SKLEARN_FORMAT:
            raise DataError(f"not a DeepFMClassifier file (its reader format is {saved.reader.get('format')!r}); "
                            "use deepfm_np.model_file.load_model", path)
        params = dict(saved.meta["train"]["sklearn_params"])
        if params.get("hidden") is not None:
            params["hidden"] = tuple(params["hidden"])
        est = cls(**params)
        est.model_, est.encoder_ = saved.model, saved.encoder
        est.columns_ = [tuple(c) for c in saved.reader["columns"]]
        est.classes_ = np.array(saved.reader["classes"], dtype=np.dtype(saved.reader["classes_dtype"]))
        est.n_features_in_ = int(saved.meta["train"]["n_features_in"])
        if saved.reader.get("feature_names_in") is not None:
            est.feature_names_in_ = np.asarray(saved.reader["feature_names_in"], dtype=object)
        return est


def _rows(X, rows):
    return X.iloc[rows] if hasattr(X, "iloc") else X[rows]


def _stratified_holdout(y01, fraction, seed):
    """(fit rows, validation rows): `fraction` of each class held out (at least one row of a class with two)."""
    rng = np.random.default_rng(seed)
    fit, valid = [], []
    for c in (0.0, 1.0):
        rows = rng.permutation(np.flatnonzero(y01 == c))
        k = int(round(fraction * rows.shape[0]))
        k = min(max(k, 1 if rows.shape[0] >= 2 else 0), rows.shape[0] - 1) if rows.shape[0] else 0
        valid.append(rows[:k])
        fit.append(rows[k:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(valid))

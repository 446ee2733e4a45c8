"""DeepFMClassifier (issue 13 §3): scikit-learn's contract, DataFrames, the model file."""
import numpy as np
import pytest

pytest.importorskip("sklearn", reason="extra `sklearn` not installed (pip install scikit-learn pandas)")
pd = pytest.importorskip("pandas", reason="extra `sklearn` needs pandas (pip install pandas)")

from sklearn.base import clone  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from deepfm_np.errors import DataError  # noqa: E402
from deepfm_np.model_file import load_model, save_model  # noqa: E402
from deepfm_np.sklearn import DeepFMClassifier  # noqa: E402

# small and quick; lr 0.01 so the deep models do not overshoot on the checks' 200-row problems
FAST = dict(embed_dim=4, hidden=(16,), epochs=30, batch_size=32, lr=0.01, keep_prob=1.0, random_state=0)


@parametrize_with_checks([DeepFMClassifier("deepfm", **FAST)])
def test_sklearn_estimator_checks(estimator, check):
    """Every check that applies. check_array_api_input skips itself (SCIPY_ARRAY_API unset): the
    estimator converts input to NumPy, it does not compute in the array API namespace. The multiclass
    parts of the checks are skipped by the tag multi_class=False: one logit, binary only."""
    check(estimator)


def frame(n, seed, unseen=False):
    """A DataFrame with every kind of column; the label depends on `city`, `tags` and `age`."""
    rng = np.random.default_rng(seed)
    city = rng.choice(["paris", "lyon", "nice", "brest"] + (["oslo"] if unseen else []), n)
    tags = [list(rng.choice(["a", "b", "c", "d"], rng.integers(0, 4), replace=False)) for _ in range(n)]
    age = rng.normal(40, 12, n)
    age[rng.random(n) < 0.1] = np.nan
    device = pd.Series(rng.choice(["ios", "android", None], n), dtype="category")
    logit = (np.isin(city, ["paris", "nice"]) * 2.0 - 1.0 + np.array([("a" in t) * 1.5 for t in tags])
             + np.nan_to_num((age - 40) / 12))
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * logit))).astype(int)
    X = pd.DataFrame({"city": city, "tags": tags, "age": age, "device": device,
                      "visits": rng.integers(0, 50, n)})
    return X, np.where(y == 1, "click", "skip")


@pytest.fixture(scope="module")
def fitted():
    X, y = frame(1500, 0)
    return DeepFMClassifier("deepfm", **FAST).fit(X, y), X, y


def test_dataframe_columns_become_fields(fitted):
    est, X, _ = fitted
    assert est.columns_ == [("city", "categorical"), ("tags", "multi"), ("age", "numeric"),
                            ("device", "categorical"), ("visits", "numeric")]
    assert est.encoder_.layout.kinds == ("categorical", "multi", "numeric", "categorical", "numeric")
    assert est.n_features_in_ == 5 and list(est.feature_names_in_) == list(X.columns)
    assert list(est.classes_) == ["click", "skip"]


def test_learns_and_generalises_to_unseen_values(fitted):
    est, _, _ = fitted
    Xt, yt = frame(600, 1, unseen=True)                       # 'oslo' never seen: its field's OOV row
    p = est.predict_proba(Xt)
    assert p.shape == (600, 2) and np.allclose(p.sum(axis=1), 1.0)
    assert roc_auc_score(yt == "skip", p[:, 1]) > 0.8          # classes_[1] is 'skip'
    d = est.decision_function(Xt)
    assert np.array_equal(est.predict(Xt), est.classes_[(d > 0).astype(int)])
    np.testing.assert_allclose(p[:, 1], 1 / (1 + np.exp(-d)), rtol=1e-6)
    assert est.score(Xt, yt) > 0.7


def test_predictions_are_the_library_pipeline(fitted):
    """The estimator is the library's Encoder and model: same idx/val, same probabilities."""
    est, X, _ = fitted
    enc = est.encoder_.transform(est._chunk(X))
    np.testing.assert_array_equal(est.predict_proba(X)[:, 1], est.model_.predict_proba(enc.idx, enc.val))


def test_params_clone_random_state():
    est = DeepFMClassifier("fm", **FAST)
    params = est.get_params()
    for k in ("model", "embed_dim", "hidden", "activation", "keep_prob", "init_std", "pretrain_epochs",
              "epochs", "batch_size", "optimizer", "lr", "l2_embed", "patience", "monitor",
              "validation_fraction", "min_count", "numeric", "hash_buckets", "max_width", "columns",
              "random_state"):
        assert k in params
    assert clone(est).get_params() == params
    assert est.set_params(model="lr", lr=0.02).get_params()["model"] == "lr"
    X, y = frame(400, 2)
    a = clone(est).fit(X, y).predict_proba(X)
    b = clone(est).fit(X, y).predict_proba(X)
    c = clone(est).set_params(random_state=1, model="fm").fit(X, y).predict_proba(X)
    d = clone(est).set_params(model="fm").fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)                        # same seed: bit-identical
    assert not np.array_equal(c, d)                            # another seed: other weights


def test_pipeline_cross_val_score_grid_search():
    X, y = frame(600, 3)
    num = X[["age", "visits"]].fillna(0).to_numpy()
    pipe = Pipeline([("scale", StandardScaler()), ("clf", DeepFMClassifier("lr", **FAST))])
    assert pipe.fit(num, y).score(num, y) > 0.5
    scores = cross_val_score(DeepFMClassifier("fm", **FAST), X, y, cv=3, scoring="roc_auc")
    assert scores.shape == (3,) and scores.min() > 0.7
    grid = GridSearchCV(DeepFMClassifier(**FAST), {"model": ["lr", "deepfm"], "embed_dim": [2, 4]}, cv=2,
                        scoring="neg_log_loss")
    grid.fit(X, y)
    assert grid.best_params_["model"] in ("lr", "deepfm") and len(grid.cv_results_["params"]) == 4


def test_validation_fraction_and_eval_set():
    X, y = frame(800, 4)
    est = DeepFMClassifier("fm", **{**FAST, "epochs": 10}, validation_fraction=0.2, patience=2).fit(X, y)
    rec = est.train_result_.history[0]
    assert "valid_auc" in rec and est.train_result_.best is not None
    Xv, yv = frame(200, 5)
    est2 = DeepFMClassifier("fm", **{**FAST, "epochs": 3}).fit(X, y, eval_set=(Xv, yv))
    assert len(est2.train_result_.history) == 3 and "valid_logloss" in est2.train_result_.history[0]
    # without validation data the loop trains every epoch and keeps the last parameters
    est3 = DeepFMClassifier("fm", **{**FAST, "epochs": 2}).fit(X, y)
    assert est3.train_result_.best is None and len(est3.train_result_.history) == 2
    with pytest.raises(ValueError, match="validation_fraction"):
        DeepFMClassifier(validation_fraction=1.5).fit(X, y)


def test_numpy_array_with_a_column_spec():
    X, y = frame(500, 6)
    A = np.empty((500, 3), dtype=object)
    A[:, 0], A[:, 1], A[:, 2] = X["city"], X["age"], X["tags"]
    est = DeepFMClassifier("deepfm", **FAST, columns=["categorical", "bucket", "multi"]).fit(A, y)
    assert est.columns_ == [("x0", "categorical"), ("x1", "bucket"), ("x2", "multi")]
    assert est.encoder_.layout.kinds == ("categorical", "categorical", "multi")     # bucket: a categorical field
    named = DeepFMClassifier("lr", **FAST, columns=[("city", "categorical"), ("age", "value"), ("tags", "multi")])
    assert named.fit(A, y).columns_[1] == ("age", "value")
    # a DataFrame's inferred kinds can be overridden by name
    est2 = DeepFMClassifier("lr", **FAST, columns={"visits": "categorical"}).fit(X, y)
    assert dict(est2.columns_)["visits"] == "categorical"
    with pytest.raises(ValueError, match="kinds"):
        DeepFMClassifier(columns=["numeric"]).fit(A, y)
    with pytest.raises(ValueError, match="not one of"):
        DeepFMClassifier(columns=["numeric", "text", "multi"]).fit(A, y)


def test_bad_input():
    X, y = frame(100, 7)
    with pytest.raises(ValueError, match="binary"):
        DeepFMClassifier(**FAST).fit(X, np.arange(100) % 3)
    est = DeepFMClassifier("lr", **FAST).fit(X, y)
    bad = X.copy()
    bad["age"] = "old"
    with pytest.raises(ValueError, match="'age' is numeric"):
        est.predict(bad)
    with pytest.raises(ValueError):                            # a column missing
        est.predict(X.drop(columns=["city"]))


def test_save_load_uses_the_model_file(fitted, tmp_path):
    est, X, _ = fitted
    path = est.save(tmp_path / "est.npz")
    saved = load_model(path)                                   # the library's own file, no pickle
    assert saved.meta["model"]["name"] == "deepfm" and saved.reader["format"] == "sklearn"
    back = DeepFMClassifier.load(path)
    assert back.get_params() == est.get_params()
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    assert list(back.classes_) == list(est.classes_) and list(back.feature_names_in_) == list(X.columns)
    other = save_model(tmp_path / "plain.npz", est.model_, est.encoder_, {"format": "criteo"})
    with pytest.raises(DataError, match="not a DeepFMClassifier"):
        DeepFMClassifier.load(other)

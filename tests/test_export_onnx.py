"""ONNX export (issue 13 §1): onnxruntime's probabilities equal deepfm_np's predict for every model.

Raw-input graphs are fed the columns the way a serving system would have them (strings, float32 with
NaN), parsed here by the test itself, not by deepfm_np's readers; the reference is what `predict` does:
the model file's reader, the saved Encoder, Model.predict_proba.
"""
import csv
import warnings
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="extra `onnx` not installed (pip install onnx)")
ort = pytest.importorskip("onnxruntime", reason="extra `onnx` needs onnxruntime (pip install onnxruntime)")

from deepfm_np.cli import main  # noqa: E402
from deepfm_np.commands.options import open_data  # noqa: E402
from deepfm_np.data import CsvSchema, encode, fit_encoder  # noqa: E402
from deepfm_np.data.dataset import ArrayDataset  # noqa: E402
from deepfm_np.export import to_onnx  # noqa: E402
from deepfm_np.export.onnx_graph import OPSET, ExportError  # noqa: E402
from deepfm_np.model_file import load_model, save_model  # noqa: E402
from deepfm_np.models.registry import build_model, model_names  # noqa: E402
from deepfm_np.train import TrainConfig, train  # noqa: E402
from fixtures.fake_data import criteo_rows, write_criteo  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "criteo_sample"
TOL = 1e-5
SMALL = dict(embed_dim=3, hidden=(8, 4), keep_prob=1.0, seed=3)

# numeric edge cases, all held exactly by float32: zero, minus zero, negatives, the bucket borders
# 1 and 2, fractions, a huge count (2^40), missing written as '' and as 'nan'
EDGE_NUMBERS = ["0", "-0", "-5", "-1099511627776", "1", "2", "0.5", "1.5", "3", "1099511627776", "", "nan"]


def _train_save(path, name, enc, reader_spec, data):
    model = build_model(name, enc.layout, **SMALL)
    ds = ArrayDataset(data.idx, data.val, data.y, data.layout, validate=False)
    train(model, ds, None, TrainConfig(epochs=1, batch_size=256, lr=0.02, patience=0, progress=False, seed=1))
    return save_model(path, model, enc, reader_spec)


def _predict_np(saved, path):
    """What `predict` computes: the model file's reader, the saved encoder, predict_proba."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)          # 'nan' cells are reported as missing
        reader = open_data(saved.reader, path)
        data = encode(reader, saved.encoder)
    return data, saved.model.predict_proba(data.idx, data.val)


def _run(proto, feeds):
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (p,) = sess.run(["probability"], feeds)
    assert p.dtype == np.float32 and p.ndim == 1
    return p.astype(np.float64)


def _num(cell):
    return float(cell) if cell.strip() else np.nan


def criteo_feeds(path):
    """Raw Criteo columns as a server would send them: I1..I13 float32 (NaN missing), C1..C26 strings."""
    rows = [line.rstrip("\n").split("\t") for line in open(path, encoding="utf-8") if line.strip()]
    feeds = {f"I{k + 1}": np.array([_num(r[1 + k]) for r in rows], dtype=np.float32) for k in range(13)}
    feeds.update({f"C{k + 1}": np.array([r[14 + k] for r in rows], dtype=object) for k in range(26)})
    return feeds


def csv_feeds(path, schema):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    feeds = {}
    for name, kind, _, _ in schema.fields:
        if kind == "numeric":
            feeds[name] = np.array([_num(r[name]) for r in rows], dtype=np.float32)
        else:
            feeds[name] = np.array([r[name] for r in rows], dtype=object)
    return feeds


def check_parity(saved, path, feeds):
    """max |p_onnx - p_np| over raw and encoded inputs; asserts both below TOL."""
    data, p_np = _predict_np(saved, path)
    worst = 0.0
    for inputs, f in (("encoded", {"idx": data.idx, "val": data.val}), ("raw", feeds)):
        proto = to_onnx(saved, inputs=inputs)
        onnx.checker.check_model(proto, full_check=True)
        p = _run(proto, f)
        err = float(np.abs(p - p_np).max())
        assert err < TOL, f"{saved.meta['model']['name']} {inputs}: max |p_onnx - p_np| = {err:.3g}"
        worst = max(worst, err)
    return worst


# ---- synthetic Criteo files: missing values, unseen categories, numeric edge cases -----------------
@pytest.fixture(scope="module")
def synth_criteo(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx_criteo")
    rows = criteo_rows(700, seed=5)
    rng = np.random.default_rng(0)
    test = criteo_rows(120, seed=6, n_values=40)                  # values 20..39 never seen in training
    for i, r in enumerate(test):
        for k in range(13):
            if rng.random() < 0.5:
                r[1 + k] = EDGE_NUMBERS[(i + k) % len(EDGE_NUMBERS)]
        if i % 7 == 0:
            r[14:] = ["ffffffff"] * 26                            # all unseen
    for i, r in enumerate(rows[:60]):                             # the edge numbers are seen in training too
        r[1 + i % 13] = EDGE_NUMBERS[i % len(EDGE_NUMBERS)]
    write_criteo(d / "train.txt", rows)
    write_criteo(d / "test.txt", test)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        reader = open_data({"format": "criteo"}, d / "train.txt")
        enc = fit_encoder(reader, min_count=2)
        data = encode(reader, enc)
    return d, enc, data


@pytest.mark.parametrize("name", model_names())
def test_criteo_synthetic_parity(name, synth_criteo, tmp_path):
    d, enc, data = synth_criteo
    saved = load_model(_train_save(tmp_path / "m.npz", name, enc, {"format": "criteo"}, data))
    check_parity(saved, d / "test.txt", criteo_feeds(d / "test.txt"))


# ---- the shared real Criteo sample ------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_criteo():
    if not (REAL / "train.txt").is_file():
        pytest.skip(f"shared Criteo sample not found at {REAL}")
    reader = open_data({"format": "criteo"}, REAL / "train.txt")
    enc = fit_encoder(reader, min_count=2)
    return enc, encode(reader, enc)


@pytest.mark.parametrize("name", model_names())
def test_criteo_sample_parity(name, real_criteo, tmp_path):
    enc, data = real_criteo
    saved = load_model(_train_save(tmp_path / "m.npz", name, enc, {"format": "criteo"}, data))
    check_parity(saved, REAL / "test.txt", criteo_feeds(REAL / "test.txt"))


# ---- synthetic CSV: bucket and value numerics, multi-valued cells, unseen tokens ---------------------
CSV_SCHEMA = CsvSchema("click", [("user", "categorical", None, None), ("ad", "categorical", None, None),
                                 ("count", "numeric", "bucket", None), ("price", "numeric", "value", None),
                                 ("tags", "multi", None, "|")])
PRICES = ["0", "-0", "-2.5", "1e-10", "3.25", "1.2676506002282294e+30", "-1.2676506002282294e+30", "", "7"]
TAGS = ["a|b", "", "a||c", "c", "b|a|d|e", "|a|", "d"]


def _write_csv(path, n, seed, unseen):
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["click", "user", "ad", "count", "price", "tags", "ignored"])
        for i in range(n):
            tags = TAGS[i % len(TAGS)] if not unseen or i % 3 else "zz|a|yy"
            user = f"u{int(rng.integers(30 if unseen else 15))}"
            w.writerow([int(rng.random() < 0.4), user, "" if i % 5 == 0 else f"ad{i % 4}",
                        EDGE_NUMBERS[i % len(EDGE_NUMBERS)], PRICES[i % len(PRICES)], tags, "x"])


@pytest.fixture(scope="module")
def synth_csv(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx_csv")
    _write_csv(d / "train.csv", 400, 1, unseen=False)
    _write_csv(d / "test.csv", 90, 2, unseen=True)
    spec = {"format": "csv", "schema": CSV_SCHEMA.to_dict()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        reader = open_data(spec, d / "train.csv")
        enc = fit_encoder(reader, min_count=2, max_width=3)       # 'b|a|d|e' is cut to its first 3
        data = encode(reader, enc)
    assert enc.layout.widths[-1] == 3
    return d, enc, data, spec


@pytest.mark.parametrize("name", model_names())
def test_csv_synthetic_parity(name, synth_csv, tmp_path):
    d, enc, data, spec = synth_csv
    saved = load_model(_train_save(tmp_path / "m.npz", name, enc, spec, data))
    check_parity(saved, d / "test.csv", csv_feeds(d / "test.csv", CSV_SCHEMA))


def test_raw_preprocessing_alone_matches_the_encoder(synth_csv, tmp_path):
    """idx/val computed inside the graph equal Encoder.transform's, slot by slot (not just the output)."""
    d, enc, data, spec = synth_csv
    saved = load_model(_train_save(tmp_path / "m.npz", "lr", enc, spec, data))
    proto = to_onnx(saved, inputs="raw")
    idx_name = next(n.output[0] for n in proto.graph.node if n.output[0].startswith("dfm/idx_"))
    val_name = next(n.output[0] for n in proto.graph.node if n.output[0].startswith("dfm/val_"))
    for name in (idx_name, val_name):
        proto.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    idx, val = sess.run([idx_name, val_name], csv_feeds(d / "test.csv", CSV_SCHEMA))
    ref, _ = _predict_np(saved, d / "test.csv")
    np.testing.assert_array_equal(idx, ref.idx)
    np.testing.assert_allclose(val, ref.val, rtol=2e-7, atol=0)  # float32, log1p to 1 ulp


# ---- refusals, the command line ------------------------------------------------------------------
def test_hashed_vocabularies_are_refused_raw_but_export_encoded(synth_criteo, tmp_path):
    d, _, _ = synth_criteo
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        reader = open_data({"format": "criteo"}, d / "train.txt")
        enc = fit_encoder(reader, hash_buckets=50)
        data = encode(reader, enc)
    saved = load_model(_train_save(tmp_path / "h.npz", "fm", enc, {"format": "criteo"}, data))
    with pytest.raises(ExportError, match="hash"):
        to_onnx(saved, inputs="raw")
    test, p_np = _predict_np(saved, d / "test.txt")
    p = _run(to_onnx(saved, inputs="encoded"), {"idx": test.idx, "val": test.val})
    assert np.abs(p - p_np).max() < TOL


def test_formats_without_raw_inputs_are_refused(synth_criteo, tmp_path):
    d, enc, data = synth_criteo
    saved = load_model(_train_save(tmp_path / "m.npz", "lr", enc, {"format": "criteo"}, data))
    saved.reader = {"format": "libsvm", "fields": "position"}
    with pytest.raises(ExportError, match="--inputs encoded"):
        to_onnx(saved, inputs="raw")
    with pytest.raises(ExportError, match="inputs must be"):
        to_onnx(saved, inputs="pixels")


def test_export_command(synth_criteo, tmp_path, capsys):
    d, enc, data = synth_criteo
    model = _train_save(tmp_path / "m.npz", "deepfm", enc, {"format": "criteo"}, data)
    out = tmp_path / "m.onnx"
    assert main(["export", "--model", str(model), "--onnx", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"opset {OPSET}" in text and "I1 float32 [N]" in text and "C26 string [N]" in text
    assert "outputs: probability float32 [N]" in text
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == [f"I{k}" for k in range(1, 14)] + [f"C{k}" for k in range(1, 27)]
    assert main(["export", "--model", str(model), "--onnx", str(out), "--inputs", "encoded"]) == 0
    assert "idx int64 [N, 39], val float32 [N, 39]" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.part"))
    # a hashed model asked for raw inputs: one line, exit 2, nothing written
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        reader = open_data({"format": "criteo"}, d / "train.txt")
        henc = fit_encoder(reader, hash_buckets=20)
        hdata = encode(reader, henc)
    hashed = _train_save(tmp_path / "h.npz", "lr", henc, {"format": "criteo"}, hdata)
    assert main(["export", "--model", str(hashed), "--onnx", str(tmp_path / "h.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "hash" in err and not (tmp_path / "h.onnx").exists()


def test_sklearn_estimator_exports_raw(tmp_path):
    """A DeepFMClassifier file: its columns are the graph's inputs (categorical values as str(v))."""
    pd = pytest.importorskip("pandas", reason="extra `sklearn` not installed")
    pytest.importorskip("sklearn", reason="extra `sklearn` not installed")
    from deepfm_np.sklearn import DeepFMClassifier
    rng = np.random.default_rng(0)
    n = 400
    X = pd.DataFrame({"city": rng.choice(["a", "b", "c", None], n), "n": rng.integers(0, 9, n),
                      "x": np.where(rng.random(n) < 0.1, np.nan, rng.normal(0, 1e3, n))})
    y = (X["city"].eq("a") ^ (X["x"] > 0)).astype(int)
    est = DeepFMClassifier("deepfm", embed_dim=3, hidden=(8,), epochs=2, batch_size=64, lr=0.01,
                           numeric="bucket", columns={"x": "value"}, random_state=0).fit(X, y)
    saved = load_model(est.save(tmp_path / "e.npz"))
    Xt = X.copy()
    Xt.loc[:5, "city"] = "zzz"                                  # unseen
    feeds = {"city": np.array([v if isinstance(v, str) else "" for v in Xt["city"]], dtype=object),  # NaN: ''
             "n": Xt["n"].to_numpy(np.float32), "x": Xt["x"].to_numpy(np.float32)}
    p = _run(to_onnx(saved, inputs="raw"), feeds)
    # x is float32 in the graph: compare with the estimator on the same float32-rounded numbers
    Xt["x"] = Xt["x"].astype(np.float32).astype(np.float64)
    assert np.abs(p - est.predict_proba(Xt)[:, 1]).max() < TOL
    lists = DeepFMClassifier("lr", epochs=1, random_state=0).fit(
        pd.DataFrame({"tags": [["a"], ["b", "c"]] * 20}), [0, 1] * 20)
    with pytest.raises(ExportError, match="lists"):
        to_onnx(load_model(lists.save(tmp_path / "l.npz")), inputs="raw")


def test_empty_vocabularies_and_float64_models(synth_csv, tmp_path):
    """min_count above every count: each field is its OOV row alone (no LabelEncoder keys at all);
    a float64 model computes in float64 inside the graph."""
    d, _, _, spec = synth_csv
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        reader = open_data(spec, d / "train.csv")
        enc = fit_encoder(reader, min_count=10**6)
        data = encode(reader, enc)
    assert all(s == 1 for s, k in zip(enc.layout.sizes, enc.layout.kinds) if k != "numeric")
    for dtype in (np.float32, np.float64):
        model = build_model("deepfm", enc.layout, dtype=dtype, **SMALL)
        model.params["w0"][...] = 0.3                          # untrained weights: make the output non-trivial
        saved = load_model(save_model(tmp_path / f"m{np.dtype(dtype).name}.npz", model, enc, spec))
        assert saved.model.dtype == dtype
        check_parity(saved, d / "test.csv", csv_feeds(d / "test.csv", CSV_SCHEMA))


def _libsvm_text(n, seed, ffm=False):
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n):
        k = int(rng.integers(1, 5))
        feats = rng.choice(40, k, replace=False)
        if ffm:
            cells = [f"{int(f) % 3}:{int(f)}:{rng.random():.3f}" for f in feats]
        else:
            cells = [f"{int(f)}:{rng.choice(['1', '0.5', '-2', '300'])}" for f in feats]
        lines.append(f"{int(rng.random() < 0.4)} " + " ".join(cells))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("spec", [{"format": "libsvm", "fields": "single"}, {"format": "libsvm", "fields": "position"},
                                  {"format": "libffm"}, {"format": "movielens"}], ids=lambda s: str(s))
def test_every_format_exports_encoded(spec, tmp_path):
    """--inputs encoded for the formats without raw inputs (multi-valued fields with feature values)."""
    from fixtures.fake_data import FAKE_ML100K
    if spec["format"] == "movielens":
        train_path, test_path = FAKE_ML100K / "u1.base", FAKE_ML100K / "u1.test"
    else:
        train_path, test_path = tmp_path / "train.txt", tmp_path / "test.txt"
        train_path.write_text(_libsvm_text(300, 0, spec["format"] == "libffm"))
        test_path.write_text(_libsvm_text(80, 1, spec["format"] == "libffm"))
    reader = open_data(spec, train_path)
    enc = fit_encoder(reader, min_count=1)
    data = encode(reader, enc)
    for name in ("fm", "deepfm", "pnn"):
        saved = load_model(_train_save(tmp_path / "m.npz", name, enc, spec, data))
        test, p_np = _predict_np(saved, test_path)
        p = _run(to_onnx(saved, inputs="encoded"), {"idx": test.idx, "val": test.val})
        assert np.abs(p - p_np).max() < TOL
        with pytest.raises(ExportError, match="--inputs encoded"):
            to_onnx(saved, inputs="raw")


def test_a_column_named_probability_is_refused(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("click,probability\n" + "".join(f"{i % 2},v{i % 3}\n" for i in range(30)))
    spec = {"format": "csv", "schema": CsvSchema("click", [("probability", "categorical", None, None)]).to_dict()}
    reader = open_data(spec, path)
    enc = fit_encoder(reader, min_count=1)
    saved = load_model(_train_save(tmp_path / "m.npz", "lr", enc, spec, encode(reader, enc)))
    with pytest.raises(ExportError, match="clash"):
        to_onnx(saved, inputs="raw")

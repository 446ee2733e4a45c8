"""ONNX graph of a saved model, optionally with its preprocessing inside (extra `onnx`).

    from deepfm_np.export import to_onnx
    proto = to_onnx(load_model("m.npz"), inputs="raw")       # onnx.ModelProto; onnx.save(proto, "m.onnx")

Opsets: ai.onnx 21 and ai.onnx.ml 3 (for LabelEncoder); IR version 10.

Two kinds of graph:

inputs="encoded" (every format): the model alone,
    idx int64 [N, S]  global rows, as Encoder.transform writes them
    val float32 [N, S]
    -> probability float32 [N]

inputs="raw" (criteo and csv formats, and DeepFMClassifier files without list columns): one input
per raw column, named as the reader names it (a DeepFMClassifier: as in its columns_),
    categorical  string [N]   the value exactly as in the file ('' = missing; DeepFMClassifier: str(v))
    numeric      float32 [N]  NaN = missing (inf is missing too, as the readers make it)
    multi        string [N]   the cell as in the file; split on the schema's separator inside the graph
and inside the graph the encoder of data/preprocess.py, step for step:
    vocabulary     LabelEncoder(token -> 1..V, default 0 = the field's OOV row)
    bucket         code(v) of data/numeric.py (in float64), then LabelEncoder(code -> 1..V, default 0)
    value          local = [v present], val = sign(v) ln(1+|v|) (float64, then float32), 1.0 if missing
    multi          StringSplit, empty tokens dropped, first W tokens kept, val = 1/n
    global row     offset[f] + local
then the same model graph as above.

What cannot be expressed exactly is refused (ExportError): hashed vocabularies (crc32 of UTF-8 bytes
has no ONNX operator), sparse libSVM/libFFM columns and MovieLens directories as raw inputs (use
inputs="encoded"). Numbers arrive as float32, as the issue's interface asks: the preprocessing matches
the library exactly for every value float32 holds exactly (all integers up to 2^24, so every Criteo
count); a CSV number such as 0.1 is first rounded to float32, which can move it across a bucket
boundary only if it lies within float32 rounding (~6e-8 relative) of that boundary, and a number
beyond float32's range (|v| > 3.4e38) becomes inf, which is missing.

The model half (`_model_graph`) mirrors models/*.py: E = V[idx] * val (Gather, Mul), slots pooled into
fields (ReduceSum over each field's slots), first order sum w[idx] * val + w0, the FM pair term
0.5 * sum_k (S_k^2 - sum_i e_ik^2), PNN's inner products (the strict upper triangle of E E^T) and
cheap outer product (s s^T, s = sum_i e_i), the MLP (MatMul + Add, relu/tanh, no dropout), and
sigmoid of the logit. Arithmetic is in the model's dtype, as in predict_proba.
"""
from __future__ import annotations

import numpy as np

OPSET = 21
ML_OPSET = 3
IR_VERSION = 10
RAW_FORMATS = ("criteo", "csv", "sklearn")


class ExportError(ValueError):
    """The model or its preprocessing cannot be expressed as an ONNX graph that computes the same thing."""


class _Graph:
    """Nodes and initializers under construction, with fresh names."""

    def __init__(self, dtype):
        from onnx import TensorProto, helper, numpy_helper
        self.helper, self.numpy_helper, self.TP = helper, numpy_helper, TensorProto
        self.dtype = np.dtype(dtype)
        self.onnx_dtype = helper.np_dtype_to_tensor_dtype(self.dtype)
        self.nodes, self.inits = [], []
        self._n = 0

    def name(self, hint):
        """A fresh name; the 'dfm/' prefix keeps it apart from any input column's name."""
        self._n += 1
        return f"dfm/{hint}_{self._n}"

    def const(self, array, hint="c"):
        name = self.name(hint)
        self.inits.append(self.numpy_helper.from_array(np.asarray(array), name))
        return name

    def f(self, value, hint="c"):
        """A scalar constant in the model's dtype."""
        return self.const(np.array(value, dtype=self.dtype), hint)

    def op(self, op_type, *inputs, hint=None, domain=None, **attrs):
        out = self.name(hint or op_type.lower())
        kw = {"domain": domain} if domain else {}
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [out], **kw, **attrs))
        return out

    def op_n(self, op_type, inputs, n_out, **attrs):
        outs = [self.name(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(self.helper.make_node(op_type, list(inputs), outs, **attrs))
        return outs

    def axes(self, *a):
        return self.const(np.array(a, dtype=np.int64), "axes")


# ---- the model half -------------------------------------------------------------------------
def _embed(g, model, table, idx, val):
    """E (N, F, K) = pooled V[idx] * val, like Model._embed.  idx (N, S) int64, val (N, S) model dtype."""
    T = g.const(model.params[table], table.replace(".", "_"))
    E = g.op("Mul", g.op("Gather", T, idx, axis=0), g.op("Unsqueeze", val, g.axes(2)), hint="E")  # (N, S, K)
    return _pool(g, model.layout, E)


def _pool(g, layout, E):
    """(N, S, K) -> (N, F, K): each field's slots summed (they are contiguous). Identity when S == F."""
    if not layout.has_multi:
        return E
    parts, s = [], 0
    for w in layout.widths:
        if w == 1:
            parts.append(g.op("Slice", E, g.axes(s), g.axes(s + 1), g.axes(1)))
        else:
            sl = g.op("Slice", E, g.axes(s), g.axes(s + w), g.axes(1))
            parts.append(g.op("ReduceSum", sl, g.axes(1), keepdims=1))
        s += w
    return g.op("Concat", *parts, axis=1, hint="P")


def _first_order(g, model, idx, val):
    """y1 (N,) = w0 + sum_s w[idx] * val."""
    w = g.const(model.params["w"], "w")
    s = g.op("ReduceSum", g.op("Mul", g.op("Gather", w, idx, axis=0), val), g.axes(1), keepdims=0)
    return g.op("Add", s, g.const(model.params["w0"], "w0"), hint="y1")


def _fm_pairs(g, E):
    """y2 (N,) = 0.5 * sum_k (S_k^2 - sum_i e_ik^2), S_k = sum_i e_ik."""
    S = g.op("ReduceSum", E, g.axes(1), keepdims=0)                         # (N, K)
    sq = g.op("ReduceSum", g.op("Mul", E, E), g.axes(1), keepdims=0)       # (N, K)
    d = g.op("ReduceSum", g.op("Sub", g.op("Mul", S, S), sq), g.axes(1), keepdims=0)
    return g.op("Mul", d, g.f(0.5), hint="y2")


def _flat(g, x):
    """(N, a, b) -> (N, a*b)."""
    return g.op("Reshape", x, g.const(np.array([0, -1], dtype=np.int64), "shape"))


def _mlp(g, model, x):
    """y (N,) = MLP(x): dense layers, relu/tanh between them, no dropout (evaluation)."""
    mlp = model.mlp
    L = len(mlp.dims) - 1
    act = {"relu": "Relu", "tanh": "Tanh"}[mlp.activation]
    a = x
    for l in range(L):
        W = g.const(model.params[f"{mlp.prefix}.W{l}"], f"W{l}")
        b = g.const(model.params[f"{mlp.prefix}.b{l}"], f"b{l}")
        a = g.op("Add", g.op("MatMul", a, W), b)
        if l < L - 1:
            a = g.op(act, a)
    return g.op("Squeeze", a, g.axes(1), hint="y_dnn")


def _logit(g, model, idx, val):
    """The logit (N,) of any model of the registry, in the model's dtype."""
    from ..models.deepfm import DeepFM
    from ..models.fm import FM
    from ..models.fnn import FNN
    from ..models.lr import LR
    from ..models.pnn import PNN
    from ..models.wide_deep import WideDeep

    if isinstance(model, LR):
        return _first_order(g, model, idx, val)
    if isinstance(model, FM):
        return g.op("Add", _first_order(g, model, idx, val), _fm_pairs(g, _embed(g, model, "V", idx, val)))
    if isinstance(model, DeepFM):                   # one table V feeds the FM and the DNN
        E = _embed(g, model, "V", idx, val)
        y12 = g.op("Add", _first_order(g, model, idx, val), _fm_pairs(g, E))
        return g.op("Add", y12, _mlp(g, model, _flat(g, E)))
    if isinstance(model, WideDeep):
        y = _first_order(g, model, idx, val)
        if model.wide == "fm":
            y = g.op("Add", y, _fm_pairs(g, _embed(g, model, "V_fm", idx, val)))
        return g.op("Add", y, _mlp(g, model, _flat(g, _embed(g, model, "V_dnn", idx, val))))
    if isinstance(model, FNN):                      # z_i = [w_i x_i, V_i x_i]
        Z = g.op("Concat", _embed(g, model, "w", idx, val), _embed(g, model, "V", idx, val), axis=2)
        return _mlp(g, model, _flat(g, Z))
    if isinstance(model, PNN):
        E = _embed(g, model, "V", idx, val)
        F = model.layout.n_fields
        signals = [_flat(g, E)]
        for p in model.products:
            if p == "inner":                        # P[:, n] = G[:, i_n, j_n], G = E E^T
                i, j = np.triu_indices(F, k=1)
                G = g.op("MatMul", E, g.op("Transpose", E, perm=[0, 2, 1]))          # (N, F, F)
                signals.append(g.op("Gather", _flat(g, G), g.const((i * F + j).astype(np.int64), "pairs"),
                                    axis=1))
            else:                                   # p = flatten(s s^T), s = sum_i e_i
                s = g.op("ReduceSum", E, g.axes(1), keepdims=0)                     # (N, K)
                signals.append(_flat(g, g.op("Mul", g.op("Unsqueeze", s, g.axes(2)),
                                             g.op("Unsqueeze", s, g.axes(1)))))
        return _mlp(g, model, g.op("Concat", *signals, axis=1))
    raise ExportError(f"model {type(model).__name__} has no ONNX export")


# ---- the preprocessing half ----------------------------------------------------------------------
def _label_encoder(g, x, keys, key_kind):
    """local ids (N,) int64: keys[i] -> i + 1, anything else -> 0 (the OOV row)."""
    if not len(keys):                                           # empty vocabulary: everything is OOV
        return g.op("ConstantOfShape", g.op("Shape", x), value=g.numpy_helper.from_array(np.zeros(1, np.int64)))
    vals = list(range(1, len(keys) + 1))
    if key_kind == "string":
        return g.op("LabelEncoder", x, domain="ai.onnx.ml", keys_strings=[str(k) for k in keys],
                    values_int64s=vals, default_int64=0, hint="local")
    return g.op("LabelEncoder", x, domain="ai.onnx.ml", keys_int64s=[int(k) for k in keys],
                values_int64s=vals, default_int64=0, hint="local")


def _ones_like(g, x, dtype=np.float32):
    return g.op("ConstantOfShape", g.op("Shape", x), value=g.numpy_helper.from_array(np.ones(1, dtype)))


def _finite(g, x):
    return g.op("Not", g.op("Or", g.op("IsNaN", x), g.op("IsInf", x)))


def _bucket_codes(g, x64):
    """numeric.bucket_codes in ONNX: x64 (N,) float64 -> (N,) int64, the same rule case by case."""
    def c(v):
        return g.const(np.array(v, dtype=np.int64), "code")

    def d(v):
        return g.const(np.array(v, dtype=np.float64), "num")

    fin = _finite(g, x64)
    big = g.op("And", fin, g.op("Greater", x64, d(2.0)))
    safe = g.op("Where", big, x64, d(3.0))                             # log of a value > 2 only
    lg = g.op("Log", safe)
    big_code = g.op("Add", g.op("Cast", g.op("Floor", g.op("Mul", lg, lg)), to=g.TP.INT64), c(7))
    rules = [                                                           # (condition, code); exclusive
        (g.op("And", fin, g.op("Less", x64, d(0.0))), 1),
        (g.op("Equal", x64, d(0.0)), 2),
        (g.op("And", g.op("Greater", x64, d(0.0)), g.op("Less", x64, d(1.0))), 3),
        (g.op("Equal", x64, d(1.0)), 4),
        (g.op("And", g.op("Greater", x64, d(1.0)), g.op("Less", x64, d(2.0))), 5),
        (g.op("Equal", x64, d(2.0)), 6),
    ]
    code = g.op("Mul", g.op("Cast", fin, to=g.TP.INT64), c(0))                # zeros: code 0 = missing
    for cond, v in rules:
        code = g.op("Where", cond, c(v), code)
    return g.op("Where", big, big_code, code, hint="bucket")


def _value_encode(g, x64):
    """numeric.value_encode: (local (N,) int64 in {0,1}, val (N,) float32).

    log1p(a) computed as log(u) * a / (u - 1), u = 1 + a (exact to ~1 ulp, Goldberg 1991; ONNX has no
    Log1p); a if u == 1.
    """
    fin = _finite(g, x64)
    zero, one = g.const(np.array(0.0)), g.const(np.array(1.0))
    xs = g.op("Where", fin, x64, zero)
    a = g.op("Abs", xs)
    u = g.op("Add", a, one)
    um1 = g.op("Sub", u, one)
    safe = g.op("Where", g.op("Equal", um1, zero), one, um1)
    l1p = g.op("Where", g.op("Equal", um1, zero), a, g.op("Div", g.op("Mul", g.op("Log", u), a), safe))
    v = g.op("Where", fin, g.op("Mul", g.op("Sign", xs), l1p), one)
    return g.op("Cast", fin, to=g.TP.INT64), g.op("Cast", v, to=g.TP.FLOAT)


def _multi(g, x, codec, sep):
    """Multi-valued cell (N,) string -> (local (N, W) int64, val (N, W) float32) like _Multi.encode.

    StringSplit on the separator (empty pieces kept), pieces -> ids, then the j-th NON-empty piece goes
    to slot j < W: slot_j = sum_m [pos_m == j] [nonempty_m] id_m with pos = cumsum(nonempty) - 1.
    """
    W = codec.width
    pieces, _ = g.op_n("StringSplit", [x], 2, delimiter=sep)                 # (N, M) strings, '' padded
    nonempty = g.op("Not", g.op("Equal", pieces, g.const(np.array([""], dtype=object), "empty")))
    ids = _label_encoder(g, pieces, codec.vocab.tokens, "string")            # (N, M)
    ne = g.op("Cast", nonempty, to=g.TP.INT64)
    pos = g.op("Sub", g.op("CumSum", ne, g.const(np.array(1, dtype=np.int64), "axis")),
               g.const(np.array(1, dtype=np.int64)))                         # (N, M)
    slots = g.const(np.arange(W, dtype=np.int64).reshape(1, 1, W), "slots")
    hit = g.op("And", g.op("Equal", g.op("Unsqueeze", pos, g.axes(2)), slots),
               g.op("Unsqueeze", nonempty, g.axes(2)))                       # (N, M, W)
    hit_i = g.op("Cast", hit, to=g.TP.INT64)
    local = g.op("ReduceSum", g.op("Mul", hit_i, g.op("Unsqueeze", ids, g.axes(2))), g.axes(1), keepdims=0)
    used = g.op("ReduceSum", hit_i, g.axes(1), keepdims=0)                   # (N, W) 1 if slot filled
    n_kept = g.op("ReduceSum", used, g.axes(1), keepdims=1)                  # (N, 1) tokens kept
    n_f = g.op("Cast", g.op("Max", n_kept, g.const(np.array(1, dtype=np.int64))), to=g.TP.FLOAT)
    val = g.op("Div", g.op("Cast", used, to=g.TP.FLOAT), n_f)
    return local, val


def _preprocess(g, encoder, reader):
    """Raw inputs -> (idx (N, S) int64, val (N, S) float32, graph inputs)."""
    from ..data.preprocess import _Bucket, _Categorical, _Multi, _Value

    fmt = reader.get("format")
    if fmt not in RAW_FORMATS:
        raise ExportError(f"raw inputs exist for the criteo and csv formats (and DeepFMClassifier "
                          f"files), not {fmt!r}; export with --inputs encoded")
    seps = {}
    if fmt == "csv":
        seps = {f[0]: f[3] for f in reader["schema"]["fields"] if f[1] == "multi"}
    H = g.helper
    inputs, idx_parts, val_parts = [], [], []
    offsets = encoder.layout.offsets
    f = 0
    for spec, codec in zip(encoder.columns, encoder.codecs):
        if isinstance(codec, (_Categorical, _Multi)) and codec.hash_buckets:
            raise ExportError(f"column {spec.name!r} is hashed (crc32, --hash-buckets): ONNX has no such "
                              f"operator; export with --inputs encoded")
        x = spec.name
        if x == "probability":
            raise ExportError("a column named 'probability' would clash with the graph's output; rename it")
        if isinstance(codec, _Categorical):
            inputs.append(H.make_tensor_value_info(x, g.TP.STRING, ["N"]))
            local = _label_encoder(g, x, codec.vocab.tokens, "string")
            val = _ones_like(g, x)
        elif isinstance(codec, (_Bucket, _Value)):
            inputs.append(H.make_tensor_value_info(x, g.TP.FLOAT, ["N"]))
            x64 = g.op("Cast", x, to=g.TP.DOUBLE)
            if isinstance(codec, _Bucket):
                local = _label_encoder(g, _bucket_codes(g, x64), codec.vocab.values, "int")
                val = _ones_like(g, x)
            else:
                local, val = _value_encode(g, x64)
        elif isinstance(codec, _Multi) and fmt == "sklearn":
            raise ExportError(f"column {spec.name!r} holds lists (a DeepFMClassifier multi-valued column), "
                              f"which have no ONNX string form; export with --inputs encoded")
        elif isinstance(codec, _Multi):
            inputs.append(H.make_tensor_value_info(x, g.TP.STRING, ["N"]))
            local, val = _multi(g, x, codec, seps[spec.name])
        else:
            raise ExportError(f"column {spec.name!r} of kind {spec.kind!r} has no raw ONNX input; "
                              f"export with --inputs encoded")
        if isinstance(codec, _Multi):
            idx_parts.append(g.op("Add", local, g.const(np.array(offsets[f], dtype=np.int64), "offset")))
            val_parts.append(val)
        else:
            idx_parts.append(g.op("Unsqueeze", g.op("Add", local, g.const(np.array(offsets[f], dtype=np.int64),
                                                                          "offset")), g.axes(1)))
            val_parts.append(g.op("Unsqueeze", val, g.axes(1)))
        f += len(codec.fields())
    idx = g.op("Concat", *idx_parts, axis=1, hint="idx")
    val = g.op("Concat", *val_parts, axis=1, hint="val")
    return idx, val, inputs


# ---- entry point ------------------------------------------------------------------------------
def to_onnx(saved, inputs="raw"):
    """onnx.ModelProto computing saved.model's click probability; see the module docstring.

    saved  : a model_file.SavedModel (load_model(path))
    inputs : "raw" (criteo/csv: the preprocessing inside) or "encoded" (idx/val)
    """
    from onnx import checker, helper

    if inputs not in ("raw", "encoded"):
        raise ExportError(f"inputs must be 'raw' or 'encoded', got {inputs!r}")
    model = saved.model
    g = _Graph(model.dtype)
    S = model.layout.n_slots
    if inputs == "encoded":
        idx, val32 = "idx", "val"
        graph_inputs = [helper.make_tensor_value_info("idx", g.TP.INT64, ["N", S]),
                        helper.make_tensor_value_info("val", g.TP.FLOAT, ["N", S])]
    else:
        idx, val32, graph_inputs = _preprocess(g, saved.encoder, saved.reader)
    val = val32 if g.dtype == np.float32 else g.op("Cast", val32, to=g.onnx_dtype)
    p = g.op("Sigmoid", _logit(g, model, idx, val))
    if g.dtype != np.float32:
        p = g.op("Cast", p, to=g.TP.FLOAT)
    g.nodes.append(helper.make_node("Identity", [p], ["probability"]))
    graph = helper.make_graph(g.nodes, f"deepfm_np_{saved.meta['model']['name']}", graph_inputs,
                              [helper.make_tensor_value_info("probability", g.TP.FLOAT, ["N"])], g.inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
                              producer_name="deepfm_np", ir_version=IR_VERSION)
    proto.doc_string = (f"deepfm_np {saved.meta['model']['name']} ({inputs} inputs); "
                        f"output probability float32 [N]")
    checker.check_model(proto, full_check=True)
    return proto

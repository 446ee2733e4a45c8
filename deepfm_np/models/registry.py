"""Model registry: name -> constructor, shared by the CLI, `compare` and the tests."""
from __future__ import annotations

from functools import partial

from .deepfm import DeepFM
from .fm import FM
from .fnn import FNN
from .lr import LR
from .pnn import PNN
from .wide_deep import WideDeep

# The order is the paper's Table 2 order (compare and its tables keep it).
MODELS = {
    "lr": LR,
    "fm": FM,
    "fnn": FNN,                                           # FM pre-training, then MLP
    "ipnn": partial(PNN, products=("inner",), activation="tanh"),   # tanh as in the paper's runs
    "opnn": partial(PNN, products=("outer",)),
    "pnn": partial(PNN, products=("inner", "outer")),     # the paper's PNN*
    "lr_dnn": partial(WideDeep, wide="lr"),
    "fm_dnn": partial(WideDeep, wide="fm"),
    "deepfm": DeepFM,
    # the two stop-gradient ablations of DeepFM's shared embedding
    "deepfm_dnn_only": partial(DeepFM, fm_grad=False),    # V learns only through the DNN
    "deepfm_fm_only": partial(DeepFM, dnn_grad=False),    # V learns only through the FM
}

# Which constructor keywords each model accepts (the CLI passes only these).
DEEP = ("embed_dim", "hidden", "activation", "keep_prob", "init_std", "seed")
ACCEPTS = {"lr": ("seed",), "fm": ("embed_dim", "init_std", "seed"),
           "fnn": DEEP + ("pretrain_epochs",), "ipnn": DEEP, "opnn": DEEP, "pnn": DEEP,
           "lr_dnn": DEEP, "fm_dnn": DEEP, "deepfm": DEEP, "deepfm_dnn_only": DEEP, "deepfm_fm_only": DEEP}

# Display names as in the paper.
LABELS = {"lr": "LR", "fm": "FM", "fnn": "FNN", "ipnn": "IPNN", "opnn": "OPNN", "pnn": "PNN*",
          "lr_dnn": "LR & DNN", "fm_dnn": "FM & DNN", "deepfm": "DeepFM",
          "deepfm_dnn_only": "DeepFM (V via DNN only)", "deepfm_fm_only": "DeepFM (V via FM only)"}

# Models with a deep part (the ones the Section 3.3 hyper-parameter studies apply to).
DEEP_MODELS = ("fnn", "ipnn", "opnn", "pnn", "lr_dnn", "fm_dnn", "deepfm", "deepfm_dnn_only", "deepfm_fm_only")


def model_names():
    return list(MODELS)


def build_model(name, layout, dtype=None, **kwargs):
    """Construct model `name` on `layout`.

    Keywords that some other model accepts but this one does not (e.g. `hidden` for LR) are
    ignored, so one set of hyper-parameters can build every model. A keyword no model accepts
    (a typo such as `hiden`) and an unknown name raise ValueError listing the valid ones.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}")
    known = set().union(*ACCEPTS.values())
    unknown = sorted(k for k in kwargs if k not in known)
    if unknown:
        raise ValueError(f"unknown model keyword(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
    kw = {k: v for k, v in kwargs.items() if k in ACCEPTS[name] and v is not None}
    if dtype is not None:
        kw["dtype"] = dtype
    model = MODELS[name](layout, **kw)
    model.name = name
    return model

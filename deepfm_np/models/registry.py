"""Model registry: name -> constructor, shared by the CLI, `compare` and the tests."""
from __future__ import annotations

from functools import partial

from .deepfm import DeepFM
from .fm import FM
from .lr import LR

MODELS = {
    "lr": LR,
    "fm": FM,
    "deepfm": DeepFM,
    # the two stop-gradient ablations of DeepFM's shared embedding
    "deepfm_dnn_only": partial(DeepFM, fm_grad=False),    # V learns only through the DNN
    "deepfm_fm_only": partial(DeepFM, dnn_grad=False),    # V learns only through the FM
}

# Which constructor keywords each model accepts (the CLI passes only these).
DEEP = ("embed_dim", "hidden", "activation", "keep_prob", "init_std", "seed")
ACCEPTS = {"lr": ("seed",), "fm": ("embed_dim", "init_std", "seed"), "deepfm": DEEP,
           "deepfm_dnn_only": DEEP, "deepfm_fm_only": DEEP}


def model_names():
    return list(MODELS)


def build_model(name, layout, dtype=None, **kwargs):
    """Construct model `name` on `layout`; keywords it does not accept are ignored.

    An unknown name raises ValueError listing the valid ones.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}")
    kw = {k: v for k, v in kwargs.items() if k in ACCEPTS[name] and v is not None}
    if dtype is not None:
        kw["dtype"] = dtype
    model = MODELS[name](layout, **kw)
    model.name = name
    return model

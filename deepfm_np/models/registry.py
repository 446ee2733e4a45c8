"""Model registry: ONE table of model specs, shared by the CLI, `compare`, the model file and the tests.

A spec names a model, its class, its display name (as in the paper) and the keywords that make the
entry a variant of its class (IPNN is PNN with products=("inner",); the ablations are DeepFM with a
stop-gradient). Everything else is read from the class's constructor, so adding a hyper-parameter to
a model is one edit (its __init__ signature):

    spec.accepts        the keywords build_model passes on (the signature minus layout, dtype, variant)
    spec.defaults       their defaults (the signature's, then the entry's `defaults` on top)
    spec.deep           the model has an MLP (it accepts `hidden`): the Section 3.3 studies apply
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from .deepfm import DeepFM
from .fm import FM
from .fnn import FNN
from .lr import LR
from .pnn import PNN
from .wide_deep import WideDeep


@dataclass(frozen=True)
class ModelSpec:
    name: str
    cls: type
    label: str                                       # display name, as in the paper
    variant: dict = field(default_factory=dict)      # fixed keywords that define this entry (not overridable)
    default_overrides: dict = field(default_factory=dict)   # defaults that differ from the class's

    @property
    def defaults(self) -> dict:
        sig = inspect.signature(self.cls.__init__).parameters
        d = {k: p.default for k, p in sig.items() if k not in ("self", "layout", "dtype") and k not in self.variant}
        return {**d, **self.default_overrides}

    @property
    def accepts(self) -> tuple:
        return tuple(self.defaults)

    @property
    def deep(self) -> bool:
        return "hidden" in self.defaults

    def build(self, layout, **kwargs):
        model = self.cls(layout, **{**self.default_overrides, **kwargs, **self.variant})
        model.name = self.name
        return model


# The order is the paper's Table 2 order (compare and its tables keep it).
SPECS = {s.name: s for s in (
    ModelSpec("lr", LR, "LR"),
    ModelSpec("fm", FM, "FM"),
    ModelSpec("fnn", FNN, "FNN"),                                     # FM pre-training, then MLP
    ModelSpec("ipnn", PNN, "IPNN", {"products": ("inner",)},
              {"activation": "tanh"}),                                # tanh as in the paper's runs
    ModelSpec("opnn", PNN, "OPNN", {"products": ("outer",)}),
    ModelSpec("pnn", PNN, "PNN*", {"products": ("inner", "outer")}),
    ModelSpec("lr_dnn", WideDeep, "LR & DNN", {"wide": "lr"}),
    ModelSpec("fm_dnn", WideDeep, "FM & DNN", {"wide": "fm"}),
    ModelSpec("deepfm", DeepFM, "DeepFM"),
    # the two stop-gradient ablations of DeepFM's shared embedding
    ModelSpec("deepfm_dnn_only", DeepFM, "DeepFM (V via DNN only)", {"fm_grad": False}),   # V learns via the DNN
    ModelSpec("deepfm_fm_only", DeepFM, "DeepFM (V via FM only)", {"dnn_grad": False}),    # V learns via the FM
)}

# Views of the table, for readers that want one column of it.
LABELS = {n: s.label for n, s in SPECS.items()}
DEEP_MODELS = tuple(n for n, s in SPECS.items() if s.deep)      # the Section 3.3 studies apply to these


def model_names():
    return list(SPECS)


def default(keyword):
    """The default of a hyper-parameter, for help texts: the same for every model that accepts it."""
    values = {repr(s.defaults[keyword]): s.defaults[keyword] for s in SPECS.values()
              if keyword in s.defaults and keyword not in s.default_overrides}
    if len(values) != 1:
        raise ValueError(f"{keyword!r} has no single default: {sorted(values)}")
    return next(iter(values.values()))


def build_model(name, layout, dtype=None, **kwargs):
    """Construct model `name` on `layout`.

    Keywords that some other model accepts but this one does not (e.g. `hidden` for LR) are
    ignored, and None means "the model's default", so one set of hyper-parameters can build every
    model. A keyword no model accepts (a typo such as `hiden`) and an unknown name raise ValueError
    listing the valid ones.
    """
    if name not in SPECS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(SPECS)}")
    known = set().union(*(s.accepts for s in SPECS.values()))
    unknown = sorted(k for k in kwargs if k not in known)
    if unknown:
        raise ValueError(f"unknown model keyword(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
    spec = SPECS[name]
    kw = {k: v for k, v in kwargs.items() if k in spec.accepts and v is not None}
    if dtype is not None:
        kw["dtype"] = dtype
    return spec.build(layout, **kw)

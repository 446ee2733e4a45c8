"""One model file: parameters + everything needed to predict, as .npz with embedded JSON (no pickle).

    save_model("m.npz", model, encoder, reader={"format": "criteo", ...}, train={...})
    saved = load_model("m.npz")         # saved.model, saved.encoder, saved.reader, saved.meta
    p = saved.model.predict_proba(*saved.encoder-transformed data...)

Inside the .npz (a zip of .npy files, readable with np.load(allow_pickle=False)):

    param/<name>   each model parameter, with its dtype and shape
    meta.json      uint8 array holding UTF-8 JSON:
        format, file_version, library_version
        model        {"name", "dtype", "config"}    constructor keywords (model.config)
        params       {name: {"shape", "dtype"}}     checked against the rebuilt model
        preprocessing Encoder.to_dict(): schema, vocabularies, bucket rules, min_count, layout
        reader       how input files are read: format and its options (CSV schema, libSVM fields)
        train        hyper-parameters and scores of the training run (informative)

Why not pickle: a pickle runs code when loaded and breaks when classes move;
arrays + JSON can be read by any version that knows the file format, and a
newer format is refused with a clear message instead of failing oddly.
Loading rebuilds the model from its name and config, then copies the saved
arrays bit for bit, so predictions in a fresh process are bit-identical.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__
from .data.preprocess import Encoder
from .errors import DataError

FILE_FORMAT = "deepfm_np model"
FILE_VERSION = 1


@dataclass
class SavedModel:
    model: object          # a models.base.Model with the saved parameters
    encoder: Encoder       # the fitted preprocessing
    reader: dict           # {"format": ..., options}
    meta: dict             # the whole JSON header


def save_model(path, model, encoder: Encoder, reader: dict, train: dict | None = None) -> Path:
    """Write `model` (+ preprocessing and reader options) to `path` (.npz is appended if missing)."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")      # np.savez would add it anyway
    if encoder.layout != model.layout:
        raise ValueError("save_model: the encoder's layout is not the model's layout")
    meta = {
        "format": FILE_FORMAT, "file_version": FILE_VERSION, "library_version": __version__,
        "model": {"name": model.name, "dtype": model.dtype.name, "config": model.config},
        "params": {k: {"shape": list(v.shape), "dtype": v.dtype.name} for k, v in model.params.items()},
        "preprocessing": encoder.to_dict(),
        "reader": reader,
        "train": train or {},
    }
    blob = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    arrays = {f"param/{k}": v for k, v in model.params.items()}
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:                          # write then rename: never a half-written model
        np.savez(f, **{"meta.json": blob}, **arrays)
    tmp.replace(path)
    return path


def load_model(path) -> SavedModel:
    """Read a file written by save_model; DataError if it is missing, truncated, foreign or too new."""
    from .models.registry import SPECS

    path = Path(path)
    if not path.is_file():
        raise DataError("model file not found", path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if "meta.json" not in z.files:
                raise DataError("not a deepfm_np model file (no meta.json inside)", path)
            meta = json.loads(z["meta.json"].tobytes().decode("utf-8"))
            arrays = {k[len("param/"):]: z[k] for k in z.files if k.startswith("param/")}
    except DataError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read the model file: truncated or not a deepfm_np model ({e})", path) from None
    if not isinstance(meta, dict) or meta.get("format") != FILE_FORMAT:
        raise DataError("not a deepfm_np model file", path)
    version = meta.get("file_version")
    if version != FILE_VERSION:
        raise DataError(f"model file format version {version} (written by deepfm_np "
                        f"{meta.get('library_version')}) cannot be read by deepfm_np {__version__}, "
                        f"which reads version {FILE_VERSION}", path)
    try:
        encoder = Encoder.from_dict(meta["preprocessing"])
        name = meta["model"]["name"]
        if name not in SPECS:
            raise ValueError(f"unknown model {name!r}")
        model = SPECS[name].build(encoder.layout, dtype=np.dtype(meta["model"]["dtype"]), **meta["model"]["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"model file is inconsistent: {e}", path) from None
    if set(arrays) != set(model.params):
        raise DataError(f"model file holds parameters {sorted(arrays)}, the model {name} needs "
                        f"{sorted(model.params)}", path)
    for k, v in arrays.items():
        target = model.params[k]
        if v.shape != target.shape or v.dtype != target.dtype:
            raise DataError(f"parameter {k} is {v.dtype}{list(v.shape)} in the file, the model needs "
                            f"{target.dtype}{list(target.shape)}", path)
        target[...] = v
    model.pretrain_result = meta.get("train", {}).get("pretrain", True)   # stage 1 (FNN) is in the parameters
    return SavedModel(model, encoder, meta.get("reader", {}), meta)

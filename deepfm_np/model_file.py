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

A model file may come from someone else, so loading trusts nothing in it and
pays little for a hostile one: meta.json is capped in size before it is read,
the header is checked against a schema (types and ranges of every field the
model is built from), the stored arrays' shapes are read from their .npy
headers and compared with what the header describes (and with a memory
budget) BEFORE the model is allocated, and parameters that are not finite are
refused. Every refusal is one DataError line.

What a model file holds (say it before sharing one): the full vocabularies of
the training data (every categorical value seen at least --min-count times,
e.g. raw user ids), the numeric buckets, the CSV schema, the training command's
hyper-parameters and scores, and the paths of the training, validation and test
files as they were given.
"""
from __future__ import annotations

import json
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__
from .data.atomic import atomic_write
from .data.preprocess import Encoder
from .errors import DataError

FILE_FORMAT = "deepfm_np model"
FILE_VERSION = 1
MAX_META_BYTES = 512 * 2 ** 20      # meta.json larger than this is refused unread (vocabularies of
                                    # tens of millions of values still fit)
MAX_INFLATION = 200                 # a member inflating more than this is a zip bomb (ours are stored,
                                    # uncompressed; JSON text deflates about 5-20x)
MAX_SLOTS = 100_000                 # slots per row (S); real layouts have tens to hundreds
MAX_DEPTH = 64                      # hidden layers


@dataclass
class SavedModel:
    model: object          # a models.base.Model with the saved parameters
    encoder: Encoder       # the fitted preprocessing
    reader: dict           # {"format": ..., options}
    meta: dict             # the whole JSON header


def model_path(path) -> Path:
    """The path save_model writes for `path`: .npz appended when missing (np.savez's convention)."""
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def save_model(path, model, encoder: Encoder, reader: dict, train: dict | None = None) -> Path:
    """Write `model` (+ preprocessing and reader options) to `path` (.npz is appended if missing).

    Atomic (data/atomic.py): an existing file at `path` is replaced only by a complete new one.
    """
    path = model_path(path)
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
    with atomic_write(path, "wb") as f:
        np.savez(f, **{"meta.json": blob}, **arrays)
    return path


def load_model(path, *, max_bytes: int | None = None) -> SavedModel:
    """Read a file written by save_model; DataError if it is missing, truncated, foreign, too new or hostile.

    max_bytes: refuse parameters larger than this (default: the machine's physical memory).
    """
    from .models.registry import SPECS

    path = Path(path)
    if not path.is_file():
        raise DataError("model file not found", path)
    budget = max_bytes if max_bytes is not None else _physical_memory()
    try:
        with zipfile.ZipFile(path) as zf:
            meta, headers = _read_header(zf, path)
            _check_meta(meta, path)
            arrays_nbytes = sum(math.prod(shape) * dt.itemsize for shape, dt in headers.values())
            if arrays_nbytes > budget:
                raise DataError(f"the parameters would take {arrays_nbytes / 2 ** 30:.1f} GiB, more than the "
                                f"budget of {budget / 2 ** 30:.1f} GiB", path)
            _check_shapes(meta, headers, path)
            try:
                encoder = Encoder.from_dict(meta["preprocessing"])
            except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as e:
                raise DataError(f"model file has inconsistent preprocessing: {_short(e)}", path) from None
            _check_size(meta, encoder, headers, path)
            arrays = {}
            for k in headers:
                with zf.open(f"param/{k}.npy") as f:
                    arrays[k] = np.lib.format.read_array(f, allow_pickle=False)
    except DataError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, KeyError,
            UnicodeDecodeError, NotImplementedError) as e:
        raise DataError(f"cannot read the model file: truncated or not a deepfm_np model ({_short(e)})",
                        path) from None
    except (TypeError, AttributeError, IndexError, RecursionError) as e:
        raise DataError(f"model file is inconsistent: {_short(e)}", path) from None
    for k, v in arrays.items():
        if not np.isfinite(v).all():
            bad = int(v.size - np.isfinite(v).sum())
            raise DataError(f"parameter {k} holds {bad:,} NaN or infinite values (a diverged or damaged "
                            f"model); retrain it", path)
    name = meta["model"]["name"]
    try:
        model = SPECS[name].build(encoder.layout, dtype=np.dtype(meta["model"]["dtype"]), **meta["model"]["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"model file is inconsistent: {_short(e)}", path) from None
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


# ---- reading and checking the header, before anything big is allocated ------------------------
def _short(e) -> str:
    text = f"missing key {e}" if isinstance(e, KeyError) else " ".join(str(e).split())
    return text if len(text) <= 200 else text[:197] + "..."


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 64 * 2 ** 30


def _npy_header(f, path):
    """(shape, dtype, header bytes) of an open .npy member (reads only its header)."""
    version = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(f)
    if dtype.hasobject:
        raise DataError("an array holds Python objects (loading it would need pickle, which runs code)", path)
    return tuple(int(n) for n in shape), dtype, f.tell()


def _read_header(zf, path):
    """-> (meta dict, {param name: (shape, dtype)}), refusing oversized or inflating members."""
    infos = {i.filename: i for i in zf.infolist()}
    if "meta.json.npy" not in infos:
        raise DataError("not a deepfm_np model file (no meta.json inside)", path)
    for i in infos.values():
        if i.file_size > max(2 ** 20, MAX_INFLATION * i.compress_size):
            raise DataError(f"member {i.filename[:60]!r} inflates from {i.compress_size:,} to {i.file_size:,} "
                            f"bytes: not a file deepfm_np wrote", path)
    info = infos["meta.json.npy"]
    if info.file_size > MAX_META_BYTES:
        raise DataError(f"meta.json is {info.file_size / 2 ** 20:,.0f} MiB, more than the "
                        f"{MAX_META_BYTES // 2 ** 20} MiB a model file's header may take", path)
    with zf.open(info) as f:
        shape, dtype, start = _npy_header(f, path)
        if dtype != np.uint8 or len(shape) != 1 or start + shape[0] != info.file_size:
            raise DataError("meta.json is not a byte array of its stored size", path)
        text = f.read(shape[0])
    try:
        meta = json.loads(text.decode("utf-8"))
    except RecursionError:
        raise DataError("meta.json is nested too deeply", path) from None
    headers = {}
    for name, i in infos.items():
        if not name.startswith("param/"):
            continue
        if not name.endswith(".npy"):
            raise DataError(f"unexpected member {name[:60]!r}", path)
        with zf.open(i) as f:
            shape, dtype, start = _npy_header(f, path)
        if start + math.prod(shape) * dtype.itemsize != i.file_size:
            raise DataError(f"array {name[:60]!r} is {list(shape)} {dtype} but stores {i.file_size:,} bytes", path)
        headers[name[len("param/"):-len(".npy")]] = (shape, dtype)
    return meta, headers


def _int(v, lo, hi):
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _check_meta(meta, path) -> None:
    """The header against its schema: every field the model and the readers are built from."""
    from .data import FORMATS
    from .models.registry import SPECS as MODELS

    if not isinstance(meta, dict) or meta.get("format") != FILE_FORMAT:
        raise DataError("not a deepfm_np model file", path)
    version = meta.get("file_version")
    if version != FILE_VERSION:
        raise DataError(f"model file format version {str(version)[:20]} (written by deepfm_np "
                        f"{str(meta.get('library_version'))[:20]}) cannot be read by deepfm_np {__version__}, "
                        f"which reads version {FILE_VERSION}", path)

    def bad(where, what):
        raise DataError(f"model file header: {where} {what}", path)

    for key, kind in (("model", dict), ("params", dict), ("preprocessing", dict)):
        if not isinstance(meta.get(key), kind):
            bad(key, f"must be a {kind.__name__}")
    for key in ("reader", "train"):
        if not isinstance(meta.get(key, {}), dict):
            bad(key, "must be a dict")
    m = meta["model"]
    if m.get("name") not in MODELS:
        bad("model.name", f"{str(m.get('name'))[:40]!r} is not one of {', '.join(MODELS)}")
    if m.get("dtype") not in ("float32", "float64"):
        bad("model.dtype", "must be float32 or float64")
    cfg = m.get("config")
    if not isinstance(cfg, dict):
        bad("model.config", "must be a dict")
    checks = {
        "embed_dim": lambda v: _int(v, 1, 100_000),
        "hidden": lambda v: isinstance(v, list) and 1 <= len(v) <= MAX_DEPTH and all(_int(h, 1, 1_000_000) for h in v),
        "activation": lambda v: v in ("relu", "tanh"),
        "keep_prob": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1,
        "init_std": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0,
        "seed": lambda v: v is None or _int(v, 0, 2 ** 63),
        "pretrain_epochs": lambda v: v is None or _int(v, 0, 1_000_000),
        "products": lambda v: isinstance(v, list) and 1 <= len(v) <= 2 and all(x in ("inner", "outer") for x in v),
        "wide": lambda v: v in ("lr", "fm"),
        "fm_grad": lambda v: isinstance(v, bool),
        "dnn_grad": lambda v: isinstance(v, bool),
    }
    import inspect
    accepted = set(inspect.signature(MODELS[m["name"]].cls.__init__).parameters) - {"self", "layout", "dtype"}

    def scalar(v):                                  # a keyword this check does not know: plain JSON only
        return v is None or isinstance(v, (bool, int, float, str)) and len(str(v)) <= 100

    for k, v in cfg.items():
        if k not in accepted:
            bad("model.config", f"has an unknown key {str(k)[:40]!r}")
        if not checks.get(k, scalar)(v):
            bad(f"model.config.{k}", f"has a bad value {_short(repr(v))[:60]}")
    for k, v in meta["params"].items():
        if not (isinstance(v, dict) and isinstance(v.get("shape"), list) and len(v["shape"]) <= 4
                and all(_int(n, 0, 2 ** 62) for n in v["shape"])):
            bad(f"params.{str(k)[:40]}", "must be {shape: [ints], dtype}")
    lay = meta["preprocessing"].get("layout")
    if not (isinstance(lay, dict) and all(isinstance(lay.get(k), list) for k in ("names", "sizes", "kinds", "widths"))
            and all(_int(n, 1, 2 ** 40) for n in lay["sizes"]) and all(_int(w, 1, MAX_SLOTS) for w in lay["widths"])
            and sum(lay["widths"]) <= MAX_SLOTS):
        bad("preprocessing.layout", f"must list field names, sizes (1..2^40), kinds and widths "
                                    f"(at most {MAX_SLOTS:,} slots in all)")
    reader = meta.get("reader", {})
    if reader:
        if reader.get("format") not in FORMATS + ("sklearn",):     # sklearn: DeepFMClassifier.save
            bad("reader.format", f"{str(reader.get('format'))[:40]!r} is not one of {', '.join(FORMATS)}, sklearn")
        if "fields" in reader and not isinstance(reader["fields"], str):
            bad("reader.fields", "must be a string")
        if "max_slots" in reader and not _int(reader["max_slots"], 1, 10 ** 7):
            bad("reader.max_slots", "must be an int in 1..10^7")
        if reader.get("schema") is not None:
            from .data import CsvSchema
            try:
                CsvSchema.from_dict(reader["schema"])
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
                bad("reader.schema", f"is not a CSV schema ({_short(e)[:80]})")


def _check_shapes(meta, headers, path) -> None:
    """The arrays' own .npy headers against the header's params section."""
    declared = meta["params"]
    if set(declared) != set(headers):
        raise DataError(f"the header lists parameters {sorted(declared)[:10]}, the file stores "
                        f"{sorted(headers)[:10]}", path)
    for k, (shape, dtype) in headers.items():
        if list(shape) != declared[k]["shape"] or dtype.name != declared[k].get("dtype"):
            raise DataError(f"parameter {k} is stored as {dtype}{list(shape)}, the header says "
                            f"{declared[k].get('dtype')}{declared[k]['shape']}", path)


def _check_size(meta, encoder, headers, path) -> None:
    """Refuse a config that would allocate more than the file stores, before the model is built.

    A lower bound on the parameters the config describes: R*K for the embedding table (R for LR),
    and h_i * h_(i+1) for the hidden layers. Any model the config builds has at least that many, so
    when it exceeds what the file stores the file is inconsistent, and nothing large is allocated.
    """
    m = meta["model"]
    cfg = m["config"]
    R = encoder.layout.n_rows
    K = cfg.get("embed_dim", 1) if m["name"] != "lr" else 1
    hidden = cfg.get("hidden", [])
    lower = R * K + sum(a * b for a, b in zip(hidden, hidden[1:])) + sum(hidden)
    stored = sum(math.prod(shape) for shape, _ in headers.values())
    if lower > stored:
        raise DataError(f"the header describes a {m['name']} model of at least {lower:,} parameters "
                        f"(embed_dim {cfg.get('embed_dim')}, hidden {hidden}, {R:,} table rows), the file "
                        f"stores {stored:,}", path)

"""Training checkpoints: parameters, optimizer state, random-generator states and history in one .npz.

    save_checkpoint(path, arrays, meta)      # atomic: a unique temporary file, fsync, os.replace
    arrays, meta = load_checkpoint(path)

Inside the .npz (readable with np.load(allow_pickle=False), like model_file.py):

    param/<name>   the model's parameters at the checkpoint
    best/<name>    the parameters of the best validation so far (restored at the end of training)
    opt/<key>      Optimizer.state_dict()
    meta.json      uint8 array holding UTF-8 JSON: where training is (epoch, batches done in it, step),
                   the generators' states (numpy bit_generator.state dicts), the history, the
                   early-stopping bookkeeping and the settings a resumed run must share

The write goes through data/atomic.py: readers see the old checkpoint or the new one, never half of one,
and a kill during the write leaves the old checkpoint intact.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from .atomic import atomic_write

FILE_FORMAT = "deepfm_np checkpoint"
FILE_VERSION = 1


def save_checkpoint(path, arrays: dict, meta: dict) -> Path:
    """Write arrays (name -> ndarray) and meta (JSON-serialisable) to `path` atomically."""
    meta = {"format": FILE_FORMAT, "file_version": FILE_VERSION, **meta}
    blob = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    path = Path(path)
    with atomic_write(path, "wb") as f:                # readers see the old file or the new one
        np.savez(f, **{"meta.json": blob, **arrays})
    return path


def load_checkpoint(path) -> tuple[dict, dict]:
    """(arrays, meta) of a file written by save_checkpoint; DataError if missing, truncated or foreign."""
    path = Path(path)
    if not path.is_file():
        raise DataError("checkpoint not found", path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if "meta.json" not in z.files:
                raise DataError("not a deepfm_np checkpoint (no meta.json inside)", path)
            meta = json.loads(z["meta.json"].tobytes().decode("utf-8"))
            arrays = {k: z[k] for k in z.files if k != "meta.json"}
    except DataError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read the checkpoint: truncated or not a deepfm_np checkpoint ({e})",
                        path) from None
    if not isinstance(meta, dict) or meta.get("format") != FILE_FORMAT:
        raise DataError("not a deepfm_np checkpoint", path)
    if meta.get("file_version") != FILE_VERSION:
        raise DataError(f"checkpoint version {meta.get('file_version')} cannot be read (this version reads "
                        f"{FILE_VERSION})", path)
    return arrays, meta

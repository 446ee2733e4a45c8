"""Real data: readers, preprocessing fitted on the training split, an on-disk cache.

    from deepfm_np.data import open_reader, Encoder, encode, build_cache

    train = open_reader("criteo", "train.txt")
    enc = Encoder(train.columns, min_count=2).fit(train.chunks())   # train split only
    train_data = encode(train, enc)                                  # in memory: idx, val, y
    test_data = encode(open_reader("criteo", "test.txt"), enc)      # same vocabularies
    big = build_cache(open_reader("criteo", "huge.txt"), enc, "cache/huge")  # streamed to disk

    from deepfm_np.data.fused import fit_encode                      # Criteo, in memory: one pass
    enc, train_data = fit_encode(open_reader("criteo", "train.txt"), min_count=2)   # same as above, faster

Modules, one job each:

    raw.py        the raw-chunk types every reader produces; files read in blocks of lines
    fastparse.py  vectorised tokenising of delimited text (the Criteo reader's speed)
    criteo.py     Criteo TSV                     libsvm.py     libSVM/libFM and libFFM
    csvschema.py  CSV/TSV + a schema file        movielens.py  MovieLens-100K, download
    numeric.py    numbers -> buckets or values   vocab.py      counting, vocabularies, stable hash
    preprocess.py Encoder: fit / transform / to_dict / from_dict
    split.py      seeded holdout of a file       cache.py      on-disk cache, CachedDataset
    fused.py      Criteo read once: parse, fit and encode from one pass on all cores (what `train` uses)
    criteo_kernels.py  the nogil Numba kernels of fused.py (parse, intern, gather), with NumPy twins

Bad input raises deepfm_np.errors.DataError (file, line, column, value);
with skip_bad_rows=True readers skip and count bad rows in `reader.stats`.
"""
from __future__ import annotations

from ..errors import DataError
from .cache import CachedDataset, build_cache
from .criteo import CriteoReader
from .csvschema import CsvReader, CsvSchema
from .libsvm import LibSVMReader
from .movielens import MovieLensReader, download_movielens
from .preprocess import EncodedData, EncodeStats, Encoder, encode, fit_encoder
from .raw import MAX_SLOTS, ColumnSpec, RawChunk, ReadStats
from .split import HoldoutReader

FORMATS = ("criteo", "libsvm", "libffm", "csv", "movielens")


def open_reader(fmt: str, path, *, skip_bad_rows: bool = False, label: bool = True,
                schema: CsvSchema | None = None, fields="auto", max_slots=MAX_SLOTS, **kw):
    """A reader for `path` in format `fmt` (one of FORMATS).

    skip_bad_rows : skip and count bad rows instead of raising DataError
    label         : criteo/csv: False for files without a label column
    schema        : csv only (CsvSchema, e.g. CsvSchema.from_file(...))
    fields        : libsvm only: "auto" | "single" | "position" | "name:lo-hi,..." (see libsvm.py)
    max_slots     : libsvm/libffm/csv multi columns: most values per row (wider rows are bad rows)

    Files ending in .gz, .bz2 or .xz are decompressed as they are read; a UTF-8 BOM is dropped.
    """
    if fmt == "criteo":
        return CriteoReader(path, label=label, skip_bad_rows=skip_bad_rows, **kw)
    if fmt in ("libsvm", "libfm"):
        return LibSVMReader(path, fields=fields, skip_bad_rows=skip_bad_rows, max_slots=max_slots, **kw)
    if fmt == "libffm":
        return LibSVMReader(path, ffm=True, skip_bad_rows=skip_bad_rows, max_slots=max_slots, **kw)
    if fmt == "csv":
        if schema is None:
            raise ValueError("format csv needs a schema (a schema file or --label/--categorical/... flags)")
        return CsvReader(path, schema, label=label, skip_bad_rows=skip_bad_rows, max_slots=max_slots, **kw)
    if fmt == "movielens":
        return MovieLensReader(path, skip_bad_rows=skip_bad_rows, **kw)
    raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")


def open_spec_reader(spec: dict, path, *, skip_bad_rows: bool = False, label: bool = True):
    """A reader for `path` as a reader spec says (the `reader` section of a model file, or what
    `train` builds from its options): the format, the CSV schema, the libSVM fields, the width cap."""
    schema = CsvSchema.from_dict(spec["schema"]) if spec.get("schema") else None
    kw = {"fields": spec["fields"]} if spec.get("fields") else {}
    return open_reader(spec["format"], path, skip_bad_rows=skip_bad_rows, label=label, schema=schema,
                       max_slots=spec.get("max_slots", MAX_SLOTS), **kw)


__all__ = ["DataError", "CachedDataset", "build_cache", "CriteoReader", "CsvReader", "CsvSchema",
           "LibSVMReader", "MovieLensReader", "download_movielens", "EncodedData", "EncodeStats",
           "Encoder", "encode", "fit_encoder", "ColumnSpec", "RawChunk", "ReadStats", "HoldoutReader",
           "FORMATS", "open_reader"]

"""Fault injection, part 2: atomic writes under errors, Ctrl-C and concurrency; hostile model files
(issue 11 §3, §6). Part 1 (tests/test_faults.py) runs the command line under user mistakes."""
from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from deepfm_np.cli import main
from deepfm_np.data.atomic import OutputPathError, atomic_write, check_output_path, write_text
from deepfm_np.errors import DataError
from deepfm_np.model_file import load_model, save_model
from fixtures.faults import (CSV, ROOT, digest, edited, members, npy, read_meta, with_meta_text, write_csv,
                             write_members)


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    """A tiny data file and one trained DeepFM model file (read-only for the tests)."""
    d = tmp_path_factory.mktemp("files")
    write_csv(d / "train.csv", 400, seed=0)
    write_csv(d / "test.csv", 100, seed=1)
    assert main(["train", *CSV, "--model", "deepfm", "--epochs", "1", "--no-progress", "--embed-dim", "4",
                 "--hidden", "8,8", "--train", str(d / "train.csv"), "--out", str(d / "m.npz")]) == 0
    return d


def temp_files(folder):
    return [p.name for p in Path(folder).iterdir() if p.name.endswith((".tmp", ".part"))]


# ---- the atomic-write helper ---------------------------------------------------------------
@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt(), OSError(errno.ENOSPC, "No space")])
def test_an_interrupted_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, exc):
    target = tmp_path / "f.txt"
    target.write_text("old\n")
    with pytest.raises(type(exc)):
        with atomic_write(target, "w") as f:
            f.write("new, half written")
            raise exc
    assert target.read_text() == "old\n" and temp_files(tmp_path) == []


def test_a_failing_fsync_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        with atomic_write(target) as f:
            f.write(b"x" * 100_000)
    assert target.read_bytes() == b"old" and temp_files(tmp_path) == []


def test_new_files_get_ordinary_permissions_and_replace_a_symlink_not_its_target(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "f.txt").symlink_to(victim)
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "f.txt", "new")
    finally:
        os.umask(old)
    assert victim.read_text() == "precious"            # the link itself was replaced
    assert not (tmp_path / "f.txt").is_symlink() and (tmp_path / "f.txt").read_text() == "new"
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644


def test_check_output_path_cases(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    assert check_output_path(tmp_path / "new.txt", "--out") == tmp_path / "new.txt"
    assert check_output_path(tmp_path / "a" / "b", "--cache", directory=True) == tmp_path / "a" / "b"
    for path, kw, words in [(tmp_path / "dir", {}, "existing folder"), (tmp_path / "no" / "f", {}, "does not exist"),
                            (tmp_path / "file" / "f", {}, "not a folder"),
                            (tmp_path / "file", {"directory": True}, "not a folder"),
                            (tmp_path / "file", {"not_same_as": [("--input", tmp_path / "file")]}, "same file")]:
        with pytest.raises(OutputPathError, match=words):
            check_output_path(path, "--out", **kw)
    assert sorted(os.listdir(tmp_path)) == ["dir", "file"]   # the write probe leaves nothing


# ---- the model file, the predictions, the cache under faults -------------------------------------
def test_save_model_on_a_full_disk_keeps_the_old_model(d, tmp_path, monkeypatch):
    saved = load_model(d / "m.npz")
    target = tmp_path / "m.npz"
    target.write_bytes((d / "m.npz").read_bytes())
    before = digest(tmp_path)
    real_fdopen = os.fdopen

    class FillsUp:                                    # the disk fills after the first 4 KB
        def __init__(self, f):
            self.f, self.n = f, 0

        def write(self, b):
            self.n += len(b)
            if self.n > 4096:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.f.write(b)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.f.__exit__(*exc)
    monkeypatch.setattr(os, "fdopen", lambda *a, **k: FillsUp(real_fdopen(*a, **k)))
    with pytest.raises(OSError):
        save_model(target, saved.model, saved.encoder, saved.reader)
    monkeypatch.undo()
    assert digest(tmp_path) == before
    load_model(target)


def test_ctrl_c_during_predict_keeps_the_old_output(d, tmp_path, monkeypatch, capsys):
    out = tmp_path / "p.txt"
    out.write_text("old\n")
    import deepfm_np.models.base as base

    def interrupted(self, *a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(base.Model, "predict_proba", interrupted)
    rc = main(["predict", "--model", str(d / "m.npz"), "--input", str(d / "test.csv"), "--output", str(out)])
    assert rc == 130 and "interrupted" in capsys.readouterr().err
    assert out.read_text() == "old\n" and temp_files(tmp_path) == []


def test_an_interrupted_cache_build_leaves_no_half_file(d, tmp_path):
    from deepfm_np.data import build_cache

    saved = load_model(d / "m.npz")
    from deepfm_np.commands.options import open_data
    reader = open_data(saved.reader, d / "test.csv")

    class Breaks:
        path, stats = reader.path, reader.stats

        def chunks(self):
            yield from reader.chunks()
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        build_cache(Breaks(), saved.encoder, tmp_path / "c")
    assert os.listdir(tmp_path / "c") == []           # no data file, no header: nothing to misread


WRITER = r"""
import sys
from deepfm_np.model_file import load_model, save_model
s = load_model(sys.argv[1])
for _ in range(int(sys.argv[3])):
    save_model(sys.argv[2], s.model, s.encoder, s.reader)
print("ok")
"""


def test_concurrent_writers_all_succeed_and_a_reader_always_sees_a_whole_file(d, tmp_path):
    target = tmp_path / "race.npz"
    target.write_bytes((d / "m.npz").read_bytes())
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(d / "m.npz"), str(target), "60"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    loads = 0
    while any(p.poll() is None for p in procs) or loads < 5:
        load_model(target)                            # raises on a torn or half-written file
        loads += 1
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and out.strip() == "ok", err
    assert loads >= 5 and temp_files(tmp_path) == [] and os.listdir(tmp_path) == ["race.npz"]


# ---- hostile model files: refused in one line, cheaply --------------------------------------------
def _config(key, value):
    return lambda m: m["model"]["config"].__setitem__(key, value)


HOSTILE = {   # name -> (edit of the header, words of the message)
    "embed_dim 50,000": (_config("embed_dim", 50_000), "at least"),
    "embed_dim 10^7": (_config("embed_dim", 10 ** 7), "embed_dim"),
    "hidden 10^6 x 10^6": (_config("hidden", [10 ** 6, 10 ** 6]), "at least"),
    "hidden not a list": (_config("hidden", "400"), "hidden"),
    "unknown config key": (_config("__class__", 1), "unknown key"),
    "model name": (lambda m: m["model"].__setitem__("name", "os.system"), "model.name"),
    "dtype": (lambda m: m["model"].__setitem__("dtype", "object"), "model.dtype"),
    "reader format ../../etc/passwd": (lambda m: m["reader"].__setitem__("format", "../../etc/passwd"),
                                       "reader.format"),
    "reader schema without label": (lambda m: m["reader"]["schema"].pop("label"), "reader.schema"),
    "reader not a dict": (lambda m: m.__setitem__("reader", [1]), "reader"),
    "preprocessing without codecs": (lambda m: m["preprocessing"].pop("codecs"), "preprocessing"),
    "preprocessing codecs garbage": (lambda m: m["preprocessing"].__setitem__("codecs", [1, 2, 3]),
                                     "preprocessing"),
    "layout with 10^9 slots": (lambda m: m["preprocessing"]["layout"].__setitem__("widths", [10 ** 9]),
                               "layout"),
    "params section lies": (lambda m: m["params"]["V"].__setitem__("shape", [5, 5]), "parameter v"),
    "file version 99": (lambda m: m.__setitem__("file_version", 99), "version 99"),
}


def _refused(path, *words, mib=40):
    """load_model refuses `path` with one line naming it and `words`, having traced less than `mib` MiB
    (a header that lies about sizes must not make it allocate them; no wall-clock bound: tests are not timed)."""
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as e:
            load_model(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 400 and str(path) in msg, msg
    for w in words:
        assert w.lower() in msg.lower(), (w, msg)
    assert peak < mib * 2 ** 20, peak
    return msg


@pytest.mark.parametrize("case", HOSTILE)
def test_an_edited_header_is_refused_before_anything_big_is_allocated(d, tmp_path, case):
    edit, words = HOSTILE[case]
    _refused(edited(d / "m.npz", tmp_path / "h.npz", edit), words)


def test_deeply_nested_json_and_non_dict_headers(d, tmp_path):
    _refused(with_meta_text(d / "m.npz", tmp_path / "n.npz", "[" * 100_000 + "]" * 100_000), "nested")
    _refused(with_meta_text(d / "m.npz", tmp_path / "l.npz", "[1, 2]"), "not a deepfm_np model")
    _refused(with_meta_text(d / "m.npz", tmp_path / "j.npz", "{not json"), "cannot read")


def test_a_meta_json_that_inflates_is_refused_unread(d, tmp_path, monkeypatch):
    m = members(d / "m.npz")
    text = json.dumps(read_meta(d / "m.npz")).encode() + b" " * (8 * 2 ** 20)
    m["meta.json.npy"] = npy(np.frombuffer(text, np.uint8))
    bomb = write_members(tmp_path / "bomb.npz", m, zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 200_000
    _refused(bomb, "inflates")
    import deepfm_np.model_file as mf
    monkeypatch.setattr(mf, "MAX_META_BYTES", 1000)   # the cap itself, on an honest file
    _refused(d / "m.npz", "meta.json", "MiB")


def test_pickled_truncated_foreign_and_non_finite_files(d, tmp_path):
    m = members(d / "m.npz")
    m["param/V.npy"] = npy(np.array([1, "x"], dtype=object), allow_pickle=True)
    _refused(write_members(tmp_path / "p.npz", m), "pickle")
    (tmp_path / "t.npz").write_bytes((d / "m.npz").read_bytes()[:3000])
    _refused(tmp_path / "t.npz", "truncated")
    (tmp_path / "x.npz").write_bytes(b"hello\n" * 20)
    _refused(tmp_path / "x.npz", "not a deepfm_np model")
    for bad in (np.nan, np.inf):
        m = members(d / "m.npz")
        a = np.load(io.BytesIO(m["param/mlp.W0.npy"])).copy()
        a.flat[7] = bad
        m["param/mlp.W0.npy"] = npy(a)
        _refused(write_members(tmp_path / "nan.npz", m), "mlp.W0", "NaN or infinite")
    m = members(d / "m.npz")
    m["param/extra.npy"] = npy(np.zeros(3, np.float32))
    _refused(write_members(tmp_path / "e.npz", m), "extra")


def test_an_honest_file_still_loads_bit_for_bit(d):
    a, b = load_model(d / "m.npz"), load_model(d / "m.npz")
    assert all(np.array_equal(a.model.params[k], b.model.params[k]) for k in a.model.params)
    assert read_meta(d / "m.npz")["train"]["files"]["train"].endswith("train.csv")   # what README warns about

"""Fault injection, part 1: the command line under user mistakes (issue 11 §2, §4, §5, §7).

Each case runs as a user would run it, in a fresh process importing this checkout, with temporary
folders, and asserts the exit code, ONE `error:` line naming the problem, no traceback, and that no
file changed (sha256 of every file before and after). The many "refused before any data is read"
cases run in one fresh process that calls the CLI's main() once per command line (the same parser
and code as `python -m deepfm_np`, at a fraction of the start-up cost); the rest each get their own
`python -m deepfm_np` process. Part 2 (tests/test_faults_files.py): atomic writes, hostile model files.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.faults import CSV, FAST, ROOT, Tmpfs, assert_refused, digest, edited, run_cli, write_csv

TRAIN = ["train", *CSV, *FAST, "--model", "deepfm"]


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    """Data files and one trained model, shared by every test of this module (read-only for them)."""
    d = tmp_path_factory.mktemp("faults")
    write_csv(d / "train.csv", 400, seed=0)
    write_csv(d / "test.csv", 100, seed=1)
    write_csv(d / "ones.csv", 100, seed=2, label=1)
    write_csv(d / "tiny.csv", 20, seed=3)
    (d / "folder").mkdir()
    (d / "out").mkdir()
    r = run_cli(*TRAIN, "--train", d / "train.csv", "--out", d / "m.npz")
    assert r.returncode == 0, r.stderr
    return d


# ---- arguments and output paths refused before any data is read ------------------------------
# --train names a file that does not exist: a case refused for its own reason proves the check
# ran before the data was read (or the message would be "file not found").
MISSING = "{d}/missing.csv"
T = TRAIN + ["--train", MISSING]
EARLY = [  # (case, argv, words the one error line must hold)
    ("train --epochs 0", T + ["--out", "{t}/m.npz", "--epochs", "0"], ["--epochs", "at least 1"]),
    ("train --batch-size 0", T + ["--out", "{t}/m.npz", "--batch-size", "0"], ["--batch-size"]),
    ("train --batch-size -5", T + ["--out", "{t}/m.npz", "--batch-size", "-5"], ["--batch-size", "-5"]),
    ("train --embed-dim 0", T + ["--out", "{t}/m.npz", "--embed-dim", "0"], ["--embed-dim"]),
    ("train --threads 0", T + ["--out", "{t}/m.npz", "--threads", "0"], ["--threads"]),
    ("train --threads -1", T + ["--out", "{t}/m.npz", "--threads", "-1"], ["--threads"]),
    ("train --keep-prob 0", T + ["--out", "{t}/m.npz", "--keep-prob", "0"], ["--keep-prob"]),
    ("train --keep-prob 1.5", T + ["--out", "{t}/m.npz", "--keep-prob", "1.5"], ["--keep-prob"]),
    ("train --lr 0", T + ["--out", "{t}/m.npz", "--lr", "0"], ["--lr"]),
    ("train --lr nan", T + ["--out", "{t}/m.npz", "--lr", "nan"], ["--lr"]),
    ("train --valid-fraction 1.5", T + ["--out", "{t}/m.npz", "--valid-fraction", "1.5"], ["--valid-fraction"]),
    ("train --min-count 0", T + ["--out", "{t}/m.npz", "--min-count", "0"], ["--min-count"]),
    ("train --hash-buckets -1", T + ["--out", "{t}/m.npz", "--hash-buckets", "-1"], ["--hash-buckets"]),
    ("train --patience -1", T + ["--out", "{t}/m.npz", "--patience", "-1"], ["--patience"]),
    ("train --max-width 0", T + ["--out", "{t}/m.npz", "--max-width", "0"], ["--max-width"]),
    ("train --hidden 0", T + ["--out", "{t}/m.npz", "--hidden", "0"], ["--hidden"]),
    ("train --hidden abc", T + ["--out", "{t}/m.npz", "--hidden", "abc"], ["--hidden"]),
    ("train huge --hash-buckets", T + ["--out", "{t}/m.npz", "--hash-buckets", str(10 ** 13)],
     ["--hash-buckets", "memory"]),
    ("train huge --hidden", T + ["--out", "{t}/m.npz", "--hidden", "1000000,1000000"], ["--hidden", "memory"]),
    ("train --out in a missing folder", T + ["--out", "{t}/no/such/m.npz"], ["--out", "does not exist"]),
    ("train --out an existing folder", T + ["--out", "{d}/folder"], ["--out", "existing folder"]),
    ("train --out out (out/ exists)", T + ["--out", "{d}/out"], ["--out", "existing folder"]),
    ("train --out m (m.npz is a folder)", T + ["--out", "{t}/x"], ["--out", "x.npz", "existing folder"]),
    ("train --out under a file", T + ["--out", "{d}/train.csv/m.npz"], ["--out", "not a folder"]),
    ("train --out = --train", TRAIN + ["--train", "{d}/train.csv", "--out", "{d}/train.csv"],
     ["--out", "--train", "same file"]),
    ("train --json in a missing folder", T + ["--out", "{t}/m.npz", "--json", "{t}/no/r.json"],
     ["--json", "does not exist"]),
    ("train --json = --out", T + ["--out", "{t}/m.npz", "--json", "{t}/m.npz"], ["--out", "--json", "same file"]),
    ("train --cache is a file", T + ["--out", "{t}/m.npz", "--cache", "{d}/train.csv"], ["--cache", "not a folder"]),
    ("predict --output = --input", ["predict", "--model", "{d}/m.npz", "--input", "{d}/test.csv",
                                    "--output", "{d}/test.csv"], ["--output", "--input", "same file"]),
    ("predict --output = --model", ["predict", "--model", "{d}/m.npz", "--input", "{d}/test.csv",
                                    "--output", "{d}/m.npz"], ["--output", "--model", "same file"]),
    ("predict --output in a missing folder", ["predict", "--model", "{d}/m.npz", "--input", MISSING,
                                              "--output", "{t}/no/p.txt"], ["--output", "does not exist"]),
    ("predict --batch-size 0", ["predict", "--model", "{d}/m.npz", "--input", MISSING, "--output", "{t}/p.txt",
                                "--batch-size", "0"], ["--batch-size"]),
    ("predict --batch-size -5", ["predict", "--model", "{d}/m.npz", "--input", MISSING, "--output", "{t}/p.txt",
                                 "--batch-size", "-5"], ["--batch-size"]),
    ("predict --threads 0", ["predict", "--model", "{d}/m.npz", "--input", MISSING, "--output", "{t}/p.txt",
                             "--threads", "0"], ["--threads"]),
    ("evaluate --batch-size -5", ["evaluate", "--model", "{d}/m.npz", "--data", MISSING, "--batch-size", "-5"],
     ["--batch-size"]),
    ("evaluate --json in a missing folder", ["evaluate", "--model", "{d}/m.npz", "--data", MISSING,
                                             "--json", "{t}/no/e.json"], ["--json", "does not exist"]),
    ("demo --epochs 0", ["demo", "--epochs", "0", "--out", "{t}/demo"], ["--epochs"]),
    ("demo --batch-size 0", ["demo", "--batch-size", "0", "--out", "{t}/demo"], ["--batch-size"]),
    ("demo --out is a file", ["demo", "--out", "{d}/train.csv"], ["--out", "not a folder"]),
    ("demo --json in a missing folder", ["demo", "--out", "{t}/demo", "--json", "{t}/no/r.json"], ["--json"]),
]

DRIVER = r"""
import contextlib, io, json, sys
from deepfm_np.cli import main
out = []
for argv in json.loads(sys.stdin.read()):
    o, e = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        try:
            rc = main(argv)
        except SystemExit as x:          # argparse's own refusals
            rc = x.code
        except BaseException as x:       # would have been a traceback
            import traceback; traceback.print_exc(file=e); rc = "raised"
    out.append({"rc": rc, "stdout": o.getvalue(), "stderr": e.getvalue()})
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def early(d, tmp_path_factory):
    """Run every EARLY case in one fresh process; -> {case: (CompletedProcess-like, files before, after)}."""
    t = tmp_path_factory.mktemp("early")
    (t / "x.npz").mkdir()
    fill = {"d": str(d), "t": str(t)}
    argvs = [[a.format(**fill) for a in argv] for _, argv, _ in EARLY]
    before = {**digest(d), **{"t/" + k: v for k, v in digest(t).items()}}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    r = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(argvs), capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    after = {**digest(d), **{"t/" + k: v for k, v in digest(t).items()}}
    return {case: subprocess.CompletedProcess(argv, res["rc"], res["stdout"], res["stderr"])
            for (case, argv, _), res in zip(EARLY, json.loads(r.stdout))}, before, after


@pytest.mark.parametrize("case,argv,words", EARLY, ids=[c for c, _, _ in EARLY])
def test_refused_before_reading_data(early, case, argv, words):
    results, before, after = early
    assert_refused(results[case], *words)
    assert before == after                            # nothing written, nothing changed


def test_a_refusal_through_the_real_entry_point_is_fast_and_one_line(d, tmp_path):
    r = run_cli(*TRAIN, "--train", d / "missing.csv", "--out", tmp_path / "m.npz", "--epochs", "0")
    assert_refused(r, "--epochs")
    assert os.listdir(tmp_path) == []


# ---- a trained model is never lost -----------------------------------------------------------
def test_one_class_test_file_keeps_the_model_and_says_auc_is_undefined(d, tmp_path):
    r = run_cli(*TRAIN, "--train", d / "train.csv", "--test", d / "ones.csv", "--out", tmp_path / "m.npz",
                "--json", tmp_path / "r.json")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "AUC undefined (only positive rows" in r.stdout
    assert (tmp_path / "m.npz").stat().st_size > 1000
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["test"]["auc"] is None and res["test"]["logloss"] > 0 and res["valid"]["auc"] is not None


@pytest.mark.parametrize("flags,who", [(["--valid", "{d}/ones.csv"], "--valid"),
                                       ([], "holdout")], ids=["one-class --valid", "one-class holdout"])
def test_one_class_validation_is_refused_before_training(d, tmp_path, flags, who):
    train = d / ("train.csv" if flags else "ones.csv")
    r = run_cli(*TRAIN, "--train", train, *[f.format(d=d) for f in flags], "--out", tmp_path / "m.npz")
    assert_refused(r, who, "both classes")
    assert "training deepfm" not in r.stdout and os.listdir(tmp_path) == []


def test_a_20_row_file_trains_or_is_refused_in_one_line(d, tmp_path):
    r = run_cli(*TRAIN, "--train", d / "tiny.csv", "--out", tmp_path / "m.npz")
    assert "Traceback" not in r.stdout + r.stderr
    assert r.returncode == 0 or assert_refused(r)


@pytest.fixture
def tmpfs(tmp_path):
    made = []

    def make(size="64k", readonly=False):
        fs = Tmpfs(tmp_path, size, readonly)
        made.append(fs)
        if not fs.ok:
            pytest.skip("cannot mount a tmpfs here (needs root); chmod cannot make a folder read-only for root")
        return fs.path

    yield make
    for fs in made:
        fs.close()


def test_read_only_filesystem_is_refused_before_reading_data(d, tmpfs):
    ro = tmpfs(readonly=True)
    for flag in ("--out", "--cache"):
        args = ["--out", ro / "m.npz"] if flag == "--out" else ["--out", d / "never.npz", "--cache", ro / "c"]
        assert_refused(run_cli(*TRAIN, "--train", d / "missing.csv", *args), flag, "read-only")
    assert not (d / "never.npz").exists()


def test_full_disk_keeps_the_old_model_and_leaves_no_temporary_file(d, tmpfs):
    small = tmpfs(size="48k")
    old = small / "m.npz"
    old.write_bytes((d / "m.npz").read_bytes())      # 8 KB: fits; the new 128-wide model does not
    before = digest(small)
    r = run_cli(*TRAIN, "--train", d / "train.csv", "--hidden", "128,128", "--out", old)
    assert_refused(r, "no space left", rc=1)
    assert digest(small) == before                   # old model intact, no .tmp/.part left, space freed


def test_full_disk_keeps_the_old_predictions(d, tmpfs):
    small = tmpfs(size="8k")
    out = small / "p.txt"
    out.write_text("old\n")
    big = write_csv(d.parent / "big.csv", 3000, seed=4)  # 3000 x 18-byte lines > 8 KB
    before = digest(small)
    assert_refused(run_cli("predict", "--model", d / "m.npz", "--input", big, "--output", out), "no space", rc=1)
    assert digest(small) == before


def test_a_planted_symlink_at_the_old_temporary_name_is_never_followed(d, tmp_path):
    victim = tmp_path / "other.txt"
    victim.write_text("precious\n")
    for name in ("m.npz.part", "p.txt.part"):
        (tmp_path / name).symlink_to(victim)
    r = run_cli(*TRAIN, "--train", d / "train.csv", "--out", tmp_path / "m.npz")
    assert r.returncode == 0, r.stderr
    r = run_cli("predict", "--model", tmp_path / "m.npz", "--input", d / "test.csv", "--output", tmp_path / "p.txt")
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "precious\n"
    assert len((tmp_path / "p.txt").read_text().splitlines()) == 100


def test_predict_error_keeps_the_old_output_and_leaves_no_temporary_file(d, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text((d / "test.csv").read_text() + "1,u1,i1,not-a-number\n")
    (tmp_path / "p.txt").write_text("old\n")
    before = digest(tmp_path)
    assert_refused(run_cli("predict", "--model", d / "m.npz", "--input", bad, "--output", tmp_path / "p.txt"),
                   "bad.csv", "line 102", "not a number")
    assert digest(tmp_path) == before


def test_predict_refuses_a_model_with_nan_parameters(d, tmp_path):
    import numpy as np

    from fixtures.faults import members, npy, write_members
    m = members(d / "m.npz")
    a = np.load(__import__("io").BytesIO(m["param/V.npy"])).copy()
    a[3, 1] = np.nan
    m["param/V.npy"] = npy(a)
    nan = write_members(tmp_path / "nan.npz", m)
    r = run_cli("predict", "--model", nan, "--input", d / "test.csv", "--output", tmp_path / "p.txt")
    assert_refused(r, "nan.npz", "parameter V", "NaN")
    assert not (tmp_path / "p.txt").exists()


def test_nan_and_huge_values_warn_in_one_short_line_and_no_progress_bar_reaches_a_log(d, tmp_path):
    f = tmp_path / "nan.csv"
    rows = (d / "train.csv").read_text().splitlines()
    rows[5] = rows[5].rsplit(",", 1)[0] + ",nan"
    rows[9] = rows[9].rsplit(",", 1)[0] + "," + "9" * 400     # overflows to inf
    f.write_text("\n".join(rows) + "\n")
    with_bars = [a for a in TRAIN if a != "--no-progress"]     # the default: bars only on a terminal
    r = run_cli(*with_bars, "--train", f, "--out", tmp_path / "m.npz")
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr + r.stdout and "batch/s" not in r.stderr
    warns = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(warns) == 1 and warns[0].startswith("warning: ") and "nan.csv" in warns[0], r.stderr
    assert "RuntimeWarning" not in r.stderr and "warnings.warn" not in r.stderr and len(warns[0]) <= 320


def test_edited_model_header_is_one_line(d, tmp_path):
    bad = edited(d / "m.npz", tmp_path / "e.npz", lambda m: m["reader"].__setitem__("format", "../../etc/passwd"))
    r = run_cli("predict", "--model", bad, "--input", d / "test.csv", "--output", tmp_path / "p.txt")
    assert_refused(r, "e.npz", "reader.format")


# ---- conventions of a command-line tool -----------------------------------------------------
def test_no_arguments_prints_the_help_to_stderr_with_exit_2():
    r = run_cli()
    assert r.returncode == 2 and r.stdout == "" and "usage: python -m deepfm_np" in r.stderr
    assert "train" in r.stderr and "Traceback" not in r.stderr


def test_version_and_program_names():
    from deepfm_np import __version__
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"python -m deepfm_np {__version__}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = "import sys; sys.argv[0] = '/usr/local/bin/deepfm-np'; from deepfm_np.cli import main; sys.exit(main())"
    r = subprocess.run([sys.executable, "-c", script, "train", "--help"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout.startswith("usage: deepfm-np train"), r.stdout[:200]
    assert "--model-file" in run_cli("predict", "--help").stdout

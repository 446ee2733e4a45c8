"""notebooks/run_all.py --publish: the executed copy keeps its outputs, drops timing metadata, is readable."""
import importlib.util
import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is needed to run and publish the lessons")
pytest.importorskip("nbclient", reason="nbclient is needed to run and publish the lessons")

ROOT = Path(__file__).resolve().parents[1]


def _load_run_all():
    spec = importlib.util.spec_from_file_location("run_all", ROOT / "notebooks" / "run_all.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_publish_writes_outputs_and_a_note(tmp_path, monkeypatch):
    run_all = _load_run_all()
    monkeypatch.setattr(run_all, "PUBLISHED", tmp_path)
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(1)")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    cell.metadata["execution"] = {"iopub.status.idle": "2026-01-01T00:00:00Z"}
    nb.cells = [cell]
    nb.metadata["widgets"] = {"x": 1}
    out = run_all.publish(Path("01_x.ipynb"), nb, 12.3)
    assert out == tmp_path / "01_x.ipynb" and oct(os.stat(out).st_mode & 0o777) == "0o644"
    back = nbformat.read(out, as_version=4)
    assert back.cells[0].cell_type == "markdown" and "run_all.py --publish" in back.cells[0].source
    assert back.cells[1].outputs[0]["text"] == "1\n" and "execution" not in back.cells[1].metadata
    assert set(back.metadata) <= {"kernelspec", "language_info"}
    assert not list(tmp_path.glob(".tmp-*"))                  # the atomic write left no temporary file


def test_figures_are_sent_inline():
    run_all = _load_run_all()
    assert run_all.KERNEL_BACKEND == "module://matplotlib_inline.backend_inline"
    assert "MPLBACKEND\"] = KERNEL_BACKEND" in (ROOT / "notebooks" / "run_all.py").read_text()
    assert run_all.lessons(["01"]) and all(p.name.startswith("01") for p in run_all.lessons(["01"]))

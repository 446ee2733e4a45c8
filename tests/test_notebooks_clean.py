"""Committed notebooks are clean: no outputs, no execution counts, no user metadata, and they import the library."""
import json
from pathlib import Path

import pytest

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.skipif(not NOTEBOOKS, reason="no notebooks yet")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean(path):
    nb = json.loads(path.read_text())
    assert set(nb["metadata"]) <= {"kernelspec", "language_info"}, nb["metadata"].keys()
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "a lesson without code"
    for c in code:
        assert c.get("outputs", []) == [] and c.get("execution_count") is None, "outputs are not committed"
        assert set(c.get("metadata", {})) <= {"tags"}, c["metadata"]
    source = "".join("".join(c["source"]) for c in code)
    assert "deepfm_np" in source                              # lessons import the library, never copy it
    assert any(kw in source for kw in ("assert ", "np.testing")), "each lesson checks what its text claims"

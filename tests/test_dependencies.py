"""pyproject.toml declares exactly what deepfm_np/ imports; requirements.txt (CI's install) names it all.

The imports are parsed (ast), not executed, so a module imported only inside a function counts too.
Rules (the developers' guide): a module-level import outside the extras' subpackages must be a core
dependency; an import inside a function, or anywhere in an extra's subpackage (export/, sklearn/,
scale/), may also be an optional extra, whose feature then needs it only when used.
"""
import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "deepfm_np"
EXTRA_PACKAGES = ("export", "sklearn", "scale")      # subpackages that exist for an optional extra
# import name -> distribution name, where they differ
DIST = {"sklearn": "scikit-learn", "yaml": "pyyaml", "PIL": "pillow", "onnxruntime": "onnxruntime"}
# Imported by an extra's subpackage but deliberately not in pyproject.toml, with the reason; CI must install it.
OUTSIDE_PYPROJECT = {"torchrec": "extra scale: installed with --no-deps by .ci/run, because its metadata "
                                 "asks for the GPU fbgemm-gpu, which conflicts with fbgemm-gpu-cpu"}

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")


def _name(req: str) -> str:
    """'numpy>=1.24' -> 'numpy' (PEP 503 normalised)."""
    return re.split(r"[<>=!~;\[ ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def third_party_imports():
    """-> [(file, line, top-level module, at_module_level)] for every non-stdlib absolute import."""
    found = []
    for path in sorted(PKG.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        in_function = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                in_function.update(id(n) for n in ast.walk(node) if n is not node)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for n in names:
                top = n.split(".")[0]
                if top in sys.stdlib_module_names or top in ("deepfm_np", "__future__"):
                    continue
                found.append((path.relative_to(ROOT), node.lineno, top, id(node) not in in_function))
    return found


def test_every_import_is_a_declared_dependency():
    proj = _project()
    core = {_name(r) for r in proj["dependencies"]}
    extras = {_name(r) for reqs in proj.get("optional-dependencies", {}).values() for r in reqs}
    missing = []
    for path, line, top, module_level in third_party_imports():
        dist = DIST.get(top, top).lower().replace("_", "-")
        in_extra_pkg = path.parts[1] in EXTRA_PACKAGES
        allowed = core if (module_level and not in_extra_pkg) else core | extras
        if in_extra_pkg and top in OUTSIDE_PYPROJECT:
            assert top in _ci_text(), f"{top}: {OUTSIDE_PYPROJECT[top]}; but .ci/run does not install it"
            continue
        if dist not in allowed:
            where = "a core dependency" if allowed is core else "a dependency or an extra"
            missing.append(f"{path}:{line} imports {top}, which is not {where} in pyproject.toml")
    assert not missing, "\n".join(missing)


def test_core_dependencies_are_all_used():
    """No dependency the library does not import (a user would install it for nothing)."""
    used = {DIST.get(t, t).lower().replace("_", "-") for p, _, t, _ in third_party_imports()
            if p.parts[1] not in EXTRA_PACKAGES}
    unused = {_name(r) for r in _project()["dependencies"]} - used
    assert not unused, f"declared but never imported by deepfm_np/: {sorted(unused)}"


def _ci_text():
    return (ROOT / ".ci" / "run").read_text()


def test_ci_installs_every_dependency_and_extra():
    """CI installs requirements.txt and, where an extra needs a special order (torch's local wheel), the
    extras .ci/run names as `.[extra,...]`: together they must cover the core and every extra."""
    proj = _project()
    reqs = set()
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            reqs.add(_name(line))
    ci_extras = {e.strip() for group in re.findall(r"\.\[([a-z0-9_,\-]+)\]", _ci_text()) for e in group.split(",")}
    missing = sorted({_name(r) for r in proj["dependencies"]} - reqs)
    for extra, rs in proj.get("optional-dependencies", {}).items():
        if extra not in ci_extras:
            missing += [f"{_name(r)} (extra {extra})" for r in rs if _name(r) not in reqs]
    assert not missing, f"CI installs neither via requirements.txt nor via .ci/run's .[extras]: {missing}"


def test_readme_demo_line_installs_the_library_alone():
    """The quick start's first command must not pull the test and notebook stack in."""
    text = (ROOT / "README.md").read_text()
    demo = [ln for ln in text.splitlines() if "deepfm_np demo" in ln and ln.startswith("pip install")]
    assert demo, "the README's quick start has no `pip install ... && python -m deepfm_np demo` line"
    assert "requirements.txt" not in demo[0] and "[test" not in demo[0]

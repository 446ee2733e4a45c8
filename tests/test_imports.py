"""Imports flow one way: kernels below layers below models below training, experiments and commands.

The test reads every module of deepfm_np with `ast` (imports inside functions included: a lazy import
that dodges a cycle is still a cycle in the design) and fails on
- any cycle between modules, and
- any import of a part of the package that sits above the importing one (LEVELS below).
"""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "deepfm_np"

# Level of each top-level part of the package; a module may import parts of its own level or lower.
# A part not listed (a new subpackage) counts as an application on top (LEVEL_APPS): anything may be
# imported by it, nothing listed may import it.
LEVELS = {
    "__init__": 0, "errors": 0, "fields": 0, "threads": 0, "kernels": 0,    # leaves
    "sparse": 1, "data": 1,
    "layers": 2, "losses": 2, "metrics": 2, "optim": 2,
    "models": 3,
    "train": 4, "gradcheck": 4, "model_file": 4,
    "experiments": 5,
    "commands": 6, "cli": 7, "__main__": 8,
}
LEVEL_APPS = 5


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(name: str) -> str:
    """The module a dotted name refers to: itself if it is a module, else its package (an attribute)."""
    while name:
        rel = Path(*name.split("."))
        if (PKG.parent / rel).with_suffix(".py").is_file() or (PKG.parent / rel / "__init__.py").is_file():
            return name
        name = name.rpartition(".")[0]
    return name


def imports_of(path: Path) -> set:
    mod = module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "deepfm_np"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "deepfm_np":
                base = node.module
            else:
                continue
            for a in node.names:
                found.add(resolve(f"{base}.{a.name}"))
    return {resolve(n) for n in found} - {mod}


def graph() -> dict:
    return {module_name(p): imports_of(p) for p in sorted(PKG.rglob("*.py"))}


def level(mod: str) -> int:
    parts = mod.split(".")
    return LEVELS.get(parts[1] if len(parts) > 1 else "__init__", LEVEL_APPS)


def test_graph_is_read():
    g = graph()
    assert "deepfm_np.kernels.rows" in g["deepfm_np.sparse"]
    assert "deepfm_np.layers" in g["deepfm_np.models.deepfm"] or any(
        m.startswith("deepfm_np.layers") for m in g["deepfm_np.models.deepfm"])


def test_no_import_goes_upward():
    bad = [f"{m} (level {level(m)}) imports {t} (level {level(t)})"
           for m, targets in graph().items() for t in sorted(targets) if level(t) > level(m)]
    assert not bad, "\n".join(bad)


def test_no_import_cycle():
    g = graph()
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(g.get(m, ())):
            if state.get(t) == "open":
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(g):
        if m not in state:
            visit(m)
    assert not cycles, "\n".join(cycles)

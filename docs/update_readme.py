"""Fill README.md's generated sections from result files that commands wrote (numbers are never typed by hand).

    python -m deepfm_np demo --json docs/results/demo.json --out docs/results --no-progress
    python -m deepfm_np compare --out docs/results/compare
    python -m benchmarks.report            (writes benchmarks/results/performance.md)
    python docs/update_readme.py

Each section sits between `<!-- BEGIN name ... -->` and `<!-- END name -->`;
a section whose source file is missing is left as it is. The compare section's results.md is first
rewritten from its runs.json (paper_table.rewrite_markdown: the generator's current wording on the
recorded runs, nothing trained), so a change to what the generator may claim reaches the README without
a 20-minute rerun.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def demo_section():
    path = ROOT / "docs/results/demo.json"
    if not path.exists():
        return None
    rep = json.loads(path.read_text())
    from deepfm_np.experiments.teacher_demo import format_table
    c = rep["config"]
    cmd = f"python -m deepfm_np demo --seed {c['seed']} --data-seed {c.get('data_seed', 0)} --rows {c['rows']}"
    speed = ", ".join(f"{r['model']} {r['samples_per_second']:,.0f}" for r in rep["results"])
    return (f"Output of `{cmd}` ({c['train_rows']:,} training rows, test on {c['test_rows']:,}):\n\n"
            f"{format_table(rep)}\n\n"
            f"{demo_noise(rep)}"
            f"Training samples/second in that run: {speed}.\n\n"
            "![validation AUC against samples seen](docs/results/learning_curves.png)\n")


def demo_noise(rep):
    """One sentence on what the demo's single-seed table can order: its test-set noise, regenerated from the
    recorded data seed (the same rows only if the teacher's AUC comes out identical), and no seed noise."""
    from deepfm_np.experiments.paper_table import load_data
    from deepfm_np.experiments.verdicts import auc_se
    c = rep["config"]
    splits = load_data("synthetic", c["rows"], c.get("data_seed", 0))
    if abs(splits.info["teacher_auc"] - rep["teacher"]["auc"]) > 1e-12 or splits.test.n != c["test_rows"]:
        return ""
    pos = splits.info["test_positives"]
    neg = splits.test.n - pos
    se = [auc_se(r["auc"], pos, neg) for r in rep["results"]]
    return (f"One seed, so this table orders nothing by itself: its seed-to-seed noise is not measured, and the "
            f"test-set standard error of each AUC is {min(se):.4f}-{max(se):.4f} (Hanley-McNeil, {pos:,} positive "
            f"and {neg:,} negative test rows). Which orderings the noise resolves is the comparison section's "
            f"subject (several seeds, below).\n\n")


def file_section(rel):
    """A generated Markdown file, its relative image links rewritten to work from the README."""
    path = ROOT / rel
    if not path.exists():
        return None
    folder = path.parent.relative_to(ROOT).as_posix()
    text = path.read_text().strip()
    text = re.sub(r"\A##? [^\n]*\n+", "", text)                    # the README has its own heading
    # a bare file name is relative to the generated file's folder; make it relative to the README
    text = re.sub(r"\]\(([^)/:]+\.png)\)", lambda m: f"]({folder}/{m.group(1)})", text)
    return text + "\n"


def compare_section():
    """results.md rewritten from the committed runs.json (the generator's current wording, no training),
    then included like any generated file."""
    if not (ROOT / "docs/results/compare/runs.json").exists():
        return None
    from deepfm_np.experiments.paper_table import rewrite_markdown
    rewrite_markdown(ROOT / "docs/results/compare")
    return file_section("docs/results/compare/results.md")


SECTIONS = {
    "demo": demo_section,
    "compare": lambda: compare_section(),
    "performance": lambda: file_section("benchmarks/results/performance.md"),
}


def main():
    readme = ROOT / "README.md"
    text = readme.read_text()
    for name, make in SECTIONS.items():
        pat = re.compile(rf"(<!-- BEGIN {name}\b[^\n]*-->\n)(.*?)(<!-- END {name} -->)", re.S)
        if not pat.search(text):
            continue
        body = make()
        if body is None:
            print(f"{name}: no result file, left as is", file=sys.stderr)
            continue
        text = pat.sub(lambda m: m.group(1) + body + m.group(3), text)
        print(f"{name}: updated")
    readme.write_text(text)


if __name__ == "__main__":
    main()

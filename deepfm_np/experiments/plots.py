"""The one matplotlib set-up of the package: figures drawn to files only.

matplotlib is imported when a figure is drawn, not when the package is, and uses the Agg backend
(no display needed: CI, a server, a notebook kernel that only writes files).
"""
from __future__ import annotations

import os
from pathlib import Path


def subplots(*args, **kwargs):
    """plt.subplots(*args, **kwargs) on the Agg backend -> (fig, axes)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt.subplots(*args, **kwargs)


def save(fig, path, dpi=120):
    """Tight layout, write `path` atomically (a .part file, then a rename), close the figure."""
    import matplotlib.pyplot as plt
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    fig.tight_layout()
    fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    os.replace(tmp, path)
    return path

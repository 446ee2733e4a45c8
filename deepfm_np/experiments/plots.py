"""The one matplotlib set-up of the package: figures drawn to files only.

matplotlib is imported when a figure is drawn, not when the package is, and uses the Agg backend
(no display needed: CI, a server, a notebook kernel that only writes files).
"""
from __future__ import annotations

from pathlib import Path


def subplots(*args, **kwargs):
    """plt.subplots(*args, **kwargs) on the Agg backend -> (fig, axes)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt.subplots(*args, **kwargs)


def save(fig, path, dpi=120):
    """Tight layout, write `path` atomically (data/atomic.py: a Ctrl-C never leaves half a PNG), close the figure."""
    import matplotlib.pyplot as plt

    from ..data.atomic import atomic_write
    path = Path(path)
    fig.tight_layout()
    try:
        with atomic_write(path, "wb") as f:
            fig.savefig(f, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)
    return path

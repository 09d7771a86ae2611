"""Pictures a person would rather look at than read: contact sheets and curves (PNG, matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robo_reward.utils.io import atomic_path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def contact_sheet(
    views: dict[str, np.ndarray],
    out: str | Path,
    curves: dict[str, np.ndarray] | None = None,
    n_frames: int = 8,
    title: str = "",
    fps: float = 10.0,
) -> Path:
    """Views × time grid of an episode, with per-frame curves (progress, reward, ...) plotted under it.

    views: {view: (T, H, W, 3) uint8}; curves: {name: (T,)}.
    """
    plt = _plt()
    T = len(next(iter(views.values())))
    idx = np.unique(np.linspace(0, T - 1, min(n_frames, T)).round().astype(int))
    rows = len(views) + (1 if curves else 0)
    fig, axes = plt.subplots(rows, len(idx), figsize=(1.6 * len(idx), 1.6 * rows + 0.4), squeeze=False)
    for r, (name, frames) in enumerate(views.items()):
        for c, t in enumerate(idx):
            ax = axes[r][c]
            ax.imshow(frames[t])
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t={t / fps:.1f}s", fontsize=7)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    if curves:
        gs = axes[-1][0].get_gridspec()
        for ax in axes[-1]:
            ax.remove()
        ax = fig.add_subplot(gs[-1, :])
        for name, y in curves.items():
            ax.plot(np.arange(len(y)) / fps, y, label=name)
        for t in idx:
            ax.axvline(t / fps, color="0.85", lw=0.5, zorder=0)
        ax.set_xlim(0, (T - 1) / fps if T > 1 else 1)
        ax.set_xlabel("time (s)", fontsize=8)
        ax.legend(fontsize=7, loc="upper left")
        ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out


def line_plot(
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    out: str | Path,
    xlabel: str,
    ylabel: str,
    title: str = "",
    bands: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Path:
    """Curves {label: (x, y)} with optional shaded bands {label: (lo, hi)}."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for label, (x, y) in series.items():
        (line,) = ax.plot(x, y, label=label)
        if bands and label in bands:
            lo, hi = bands[label]
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out

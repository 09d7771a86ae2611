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


def metrics_plot(records: list[dict], out: str | Path, title: str = "", max_panels: int = 24) -> Path | None:
    """Training curves: every metric of a `metrics.jsonl` against its step, one small panel each, losses
    first, then unprefixed metrics, then `charts/*`, then the rest (`time/*` and wall time left out).

    A series of 20 points or more is drawn faint with a moving average over it. Nothing logged: None.
    """
    series: dict[str, tuple[list, list]] = {}
    for r in records:
        for k, v in r.items():
            if k not in ("step", "time") and not k.startswith("time/") and isinstance(v, int | float):
                xs, ys = series.setdefault(k, ([], []))
                xs.append(r["step"])
                ys.append(v)
    if not series:
        return None
    names = sorted(series, key=lambda k: (_panel_rank(k), k))
    shown = names[:max_panels]
    plt = _plt()
    from matplotlib.ticker import MaxNLocator

    cols = min(4, len(shown))
    rows = -(-len(shown) // cols)
    # fixed margins: tight_layout would measure every tick label, the bulk of the drawing time
    height = 2.3 * rows + 0.5
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, height), squeeze=False)
    fig.subplots_adjust(left=0.55 / (3.2 * cols), right=1 - 0.15 / (3.2 * cols), bottom=0.35 / height,
                        top=1 - 0.55 / height, wspace=0.35, hspace=0.5)  # fmt: skip
    for ax, name in zip(axes.flat, shown, strict=False):
        x, y = np.asarray(series[name][0]), np.asarray(series[name][1], dtype=float)
        if len(y) >= 20:
            (line,) = ax.plot(x, y, alpha=0.3, lw=0.8)
            ax.plot(x, _moving_average(y, 2 * (len(y) // 40) + 1), color=line.get_color(), lw=1.4)
        else:
            ax.plot(x, y, marker="o", ms=3)
        if np.ptp(y) <= 1e-9 * max(1.0, np.abs(y).max()):  # flat: the smoothing's rounding is no signal
            pad = 0.1 * abs(y[0]) or 0.5
            ax.set_ylim(y[0] - pad, y[0] + pad)
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.locator_params(axis="y", nbins=4)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4), useOffset=False)
        ax.yaxis.get_offset_text().set_fontsize(7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(shown) :]:
        ax.remove()
    more = f" (first {max_panels} of {len(names)} metrics)" if len(names) > max_panels else ""
    fig.suptitle(f"{title + ': ' if title else ''}x = step{more}", fontsize=9)
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return out


def _panel_rank(name: str) -> int:
    if name.startswith("losses/"):
        return 0
    if "/" not in name:
        return 1
    return 2 if name.startswith("charts/") else 3


def _moving_average(y: np.ndarray, window: int) -> np.ndarray:
    """Centred mean over `window` points (odd; narrower near the ends, never lagging), as long as `y`."""
    half = window // 2
    c = np.cumsum(np.r_[0.0, y])
    i = np.arange(len(y))
    lo, hi = np.maximum(0, i - half), np.minimum(len(y), i + half + 1)
    return (c[hi] - c[lo]) / (hi - lo)

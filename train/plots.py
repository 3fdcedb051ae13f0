"""Figures (matplotlib, Agg backend): the training loss curve and the alignment-vs-CE scatter."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def loss_curve(losses: list[float], path: Path, title: str = "train loss", steps_per_epoch: int | None = None) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(range(1, len(losses) + 1), losses, marker="o", ms=3)
    if steps_per_epoch:
        for e in range(steps_per_epoch, len(losses), steps_per_epoch):
            ax.axvline(e + 0.5, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("train CE (nats/token)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def confirm_scatter(rows: list[dict[str, Any]], metrics: list[str], stats: dict[str, dict[str, float]],
                    path: Path, target: str = "target") -> Path:
    """One panel per metric: alignment (x) vs fine-tuned eval CE (y), least-squares line over sources."""
    import numpy as np

    plt = _plt()
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 4), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        xs, ys = [], []
        for r in rows:
            a = (r.get("alignments") or {}).get(m)
            if a is None or r.get("eval_ce_after") is None:
                continue
            x, y = a["alignment"], r["eval_ce_after"]
            is_mix = r.get("role") == "mix"
            ax.scatter([x], [y], marker="*" if is_mix else "o", s=90 if is_mix else 30,
                       color="tab:red" if is_mix else "tab:blue", zorder=3)
            ax.annotate(r["name"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
            if not is_mix:
                xs.append(x)
                ys.append(y)
        if len(xs) >= 2 and np.std(xs) > 0:
            slope, icpt = np.polyfit(xs, ys, 1)
            grid = np.linspace(min(xs), max(xs), 50)
            ax.plot(grid, slope * grid + icpt, color="grey", lw=1)
        s = {k: (float("nan") if v is None else v) for k, v in stats.get(m, {}).items()}
        ax.set_title(f"{m}: r={s.get('pearson', float('nan')):.3f}, r²={s.get('r2', float('nan')):.3f}, "
                     f"ρ={s.get('spearman', float('nan')):.3f}", fontsize=9)
        ax.set_xlabel(f"{m} alignment to {target}")
        ax.set_ylabel(f"fine-tuned CE on {target}")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)

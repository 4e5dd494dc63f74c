"""PNG plots (matplotlib, Agg): throughput bars brokerkit vs raw, and latency percentile
curves, one panel per backend so each gets its own scale; with several backends, the
comparison figures: every backend's throughput on one shared log axis (brokerkit beside
raw), and every backend's brokerkit latency curve overlaid on one axis."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .results import Row
from .workload import Workload

__all__ = ["plot_compare_latency", "plot_compare_throughput", "plot_latency", "plot_throughput"]

COLORS = {"brokerkit": "#1f77b4", "raw": "#9e9e9e"}
API_COLORS = {"async": "#1f77b4", "sync": "#d62728"}
TARGET_STYLES = {"brokerkit": "-", "raw": "--"}
#: Percentiles on the latency x axis (the "nines" scale: -log10(1 - p)).
NINES_TICKS = (50.0, 90.0, 99.0, 99.9, 99.99, 99.999)
#: Where the maximum goes, right of the last percentile.
MAX_GAP = 0.8


def _short(value: float, _pos: Any = None) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.0f}k"
    return f"{value:.0f}"


def _ms(value: float, _pos: Any = None) -> str:
    return f"{value:g}"


def _backends(rows: Sequence[Row]) -> list[str]:
    return list(dict.fromkeys(r.url for r in rows))


def _blank(ax: Any, url: str, rows: Sequence[Row]) -> None:
    """A panel for a backend where nothing was measured, saying why."""
    notes = list(dict.fromkeys(r.note for r in rows if r.url == url and r.note))
    ax.set_title(url, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#cccccc")
    why = "\n".join(notes[:2]) or "no results"
    ax.text(
        0.5,
        0.5,
        f"not measured:\n{why}",
        ha="center",
        va="center",
        transform=ax.transAxes,
        color="gray",
        wrap=True,
    )


def _panels(n: int, width: float, height: float) -> tuple[Any, list[Any]]:
    fig, axes = plt.subplots(1, n, figsize=(max(width * n, 6.0), height), squeeze=False)
    return fig, list(axes[0])


def plot_throughput(path: Path, workload: Workload, rows: Sequence[Row]) -> None:
    """Bars of produce and consume msg/s per API, brokerkit next to raw, per backend; the
    ratio brokerkit/raw above each pair."""
    backends = _backends(rows)
    fig, axes = _panels(len(backends), 5.2, 4.6)
    for ax, url in zip(axes, backends, strict=True):
        mine = [r for r in rows if r.url == url and r.produce_rate + r.consume_rate > 0]
        if not mine:
            _blank(ax, url, rows)
            continue
        apis = list(dict.fromkeys(r.api for r in mine))
        groups = [(side, api) for api in apis for side in ("produce", "consume")]
        width = 0.38
        top = 0.0
        for g, (side, api) in enumerate(groups):
            values = {}
            for k, target in enumerate(("brokerkit", "raw")):
                row = next((r for r in mine if r.api == api and r.target == target), None)
                if row is None:
                    continue
                value = row.produce_rate if side == "produce" else row.consume_rate
                values[target] = value
                x = g + (k - 0.5) * width
                ax.bar(x, value, width, color=COLORS[target], label=target if g == 0 else None)
                ax.annotate(
                    _short(value),
                    (x, value),
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    xytext=(0, 2),
                    textcoords="offset points",
                )
                top = max(top, value)
            if values.get("brokerkit") and values.get("raw"):
                ratio = values["brokerkit"] / values["raw"]
                color = "#2e7d32" if ratio >= 0.9 else "#c62828"
                ax.annotate(
                    f"{ratio:.2f}x raw",
                    (g, max(values.values())),
                    ha="center",
                    va="bottom",
                    fontsize=9,
                    fontweight="bold",
                    color=color,
                    xytext=(0, 15),
                    textcoords="offset points",
                )
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([f"{side}\n{api}" for side, api in groups])
        ax.set_ylim(0, top * 1.3 if top else 1)
        ax.yaxis.set_major_formatter(FuncFormatter(_short))
        ax.set_ylabel("messages / second")
        ax.set_title(url, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    fig.suptitle(f"{workload.name}: throughput, brokerkit vs raw client", fontweight="bold")
    fig.text(0.5, 0.005, workload.describe(), ha="center", fontsize=8, color="#555555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _nines(percentile: float) -> float:
    return -math.log10(max(1e-9, 1 - percentile / 100))


def plot_latency(path: Path, workload: Workload, rows: Sequence[Row]) -> None:
    """End-to-end latency by percentile (log scale), per backend: a line per API and
    target (brokerkit solid, raw dashed); the maximum as a dot at the right."""
    backends = _backends(rows)
    fig, axes = _panels(len(backends), 5.2, 4.4)
    right = _nines(NINES_TICKS[-1])
    for ax, url in zip(axes, backends, strict=True):
        if not any(r.url == url and r.latency is not None for r in rows):
            _blank(ax, url, rows)
            continue
        for row in rows:
            if row.url != url or row.latency is None:
                continue
            points = [(p, v) for p, v in row.latency.curve if 0 < p < 100 and v > 0]
            xs = [_nines(p) for p, _ in points]
            ys = [v for _, v in points]
            color = API_COLORS.get(row.api, "black")
            ax.plot(
                xs,
                ys,
                TARGET_STYLES.get(row.target, "-"),
                color=color,
                marker="o",
                markersize=3,
                label=f"{row.target} {row.api}",
            )
            ax.plot([right + MAX_GAP], [row.latency.max], "o", color=color, fillstyle="none")
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(_ms))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks([_nines(p) for p in NINES_TICKS] + [right + MAX_GAP])
        ax.set_xticklabels([f"{p:g}%" for p in NINES_TICKS] + ["max"], fontsize=8)
        ax.set_xlim(-0.1, right + MAX_GAP + 0.3)
        ax.set_xlabel("percentile")
        ax.set_ylabel("latency (ms)")
        ax.set_title(url, fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, frameon=False)
    fig.suptitle(f"{workload.name}: end-to-end latency", fontweight="bold")
    fig.text(0.5, 0.005, workload.describe(), ha="center", fontsize=8, color="#555555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


#: One color per backend in the comparison figures (tab10, in the order given).
BACKEND_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
)
API_STYLES = {"async": "-", "sync": "--"}


def _color(i: int) -> str:
    return BACKEND_COLORS[i % len(BACKEND_COLORS)]


def _label(url: str, width: int = 26) -> str:
    """A URL on a few short lines: the query parameters one per line."""
    base, sep, query = url.partition("?")
    lines = [base] + [("?" if i == 0 else "&") + q for i, q in enumerate(query.split("&"))] * bool(
        sep
    )
    return "\n".join(line if len(line) <= width else line[: width - 1] + "…" for line in lines)


def plot_compare_throughput(path: Path, workload: Workload, rows: Sequence[Row]) -> None:
    """Every backend on one shared log axis: a group per backend and API, brokerkit
    (colored) beside raw (gray), produce left and consume right."""
    backends = _backends(rows)
    groups = len({(r.url, r.api) for r in rows if r.produce_rate + r.consume_rate > 0})
    fig, axes = plt.subplots(
        2, 1, figsize=(max(7.0, 1.8 * groups + 2.0), 8.0), sharey=True, squeeze=False
    )
    panels = [row[0] for row in axes]
    low, high = math.inf, 0.0
    skipped: list[str] = []
    for ax, side in zip(panels, ("produce", "consume"), strict=True):
        labels: list[str] = []
        x = 0
        for b, url in enumerate(backends):
            mine = [r for r in rows if r.url == url]
            for api in dict.fromkeys(r.api for r in mine):
                drawn = False
                for k, target in enumerate(("brokerkit", "raw")):
                    row = next((r for r in mine if r.api == api and r.target == target), None)
                    value = 0.0
                    if row is not None:
                        value = row.produce_rate if side == "produce" else row.consume_rate
                    if value <= 0:
                        continue
                    drawn = True
                    low, high = min(low, value), max(high, value)
                    pos = x + (k - 0.5) * 0.4
                    ax.bar(
                        pos,
                        value,
                        0.4,
                        color=_color(b) if target == "brokerkit" else "#bdbdbd",
                        edgecolor=_color(b),
                        hatch="" if target == "brokerkit" else "//",
                    )
                    ax.annotate(
                        _short(value),
                        (pos, value),
                        ha="center",
                        va="bottom",
                        fontsize=7,
                        xytext=(0, 2),
                        textcoords="offset points",
                    )
                if drawn:  # a backend where the workload did not run takes no room
                    labels.append(f"{_label(url)}\n{api}")
                    x += 1
                elif api == mine[0].api and side == "produce":
                    skipped.append(url)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(_short))
        ax.set_title(f"{side} (messages / second, log scale)", fontsize=10)
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.set_axisbelow(True)
    if high > 0:
        panels[0].set_ylim(low / 2, high * 3)
    for ax in panels:
        ax.set_ylabel("messages / second")
    handles = [
        Patch(color="#777777"),
        Patch(facecolor="#bdbdbd", edgecolor="#777777", hatch="//"),
    ]
    panels[0].legend(handles, ["brokerkit", "raw client"], fontsize=8, frameon=False)
    fig.suptitle(f"{workload.name}: throughput of every backend", fontweight="bold")
    note = workload.describe()
    if skipped:
        note += "; not run (unsupported or failed): " + ", ".join(skipped)
    fig.text(0.5, 0.005, note, ha="center", fontsize=8, color="#555555", wrap=True)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_compare_latency(path: Path, workload: Workload, rows: Sequence[Row]) -> None:
    """Every backend's brokerkit latency curve on one axis (a color per backend, solid
    async, dashed sync); the maximum as a circle at the right."""
    backends = _backends(rows)
    fig, ax = plt.subplots(figsize=(8.0, 6.0))
    right = _nines(NINES_TICKS[-1])
    drawn = 0
    for b, url in enumerate(backends):
        for row in rows:
            if row.url != url or row.target != "brokerkit" or row.latency is None:
                continue
            points = [(p, v) for p, v in row.latency.curve if 0 < p < 100 and v > 0]
            ax.plot(
                [_nines(p) for p, _ in points],
                [v for _, v in points],
                API_STYLES.get(row.api, "-"),
                color=_color(b),
                marker="o",
                markersize=3,
                label=f"{url} {row.api}",
            )
            ax.plot([right + MAX_GAP], [row.latency.max], "o", color=_color(b), fillstyle="none")
            drawn += 1
    if not drawn:
        ax.text(0.5, 0.5, "no latency measured", ha="center", va="center", color="gray")
    else:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(_ms))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.legend(
            fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2
        )
    ax.set_xticks([_nines(p) for p in NINES_TICKS] + [right + MAX_GAP])
    ax.set_xticklabels([f"{p:g}%" for p in NINES_TICKS] + ["max"], fontsize=8)
    ax.set_xlim(-0.1, right + MAX_GAP + 0.3)
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency through brokerkit (ms, log scale)")
    ax.grid(True, which="major", alpha=0.3)
    fig.suptitle(f"{workload.name}: end-to-end latency of every backend", fontweight="bold")
    fig.text(0.5, 0.005, workload.describe(), ha="center", fontsize=8, color="#555555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)

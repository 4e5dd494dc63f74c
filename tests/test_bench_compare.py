"""The benchmark across backends: the terminal table at 100 columns, the comparison
figures (every backend on one log axis; every backend's latency curve on one axis), the
Markdown ranking, and the bench without matplotlib. Tiny runs on memory:// only (two named
in-process brokers stand for two backends); no timing thresholds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("hdrh")
pytest.importorskip("rich")

from brokerkit._dist import DISTRIBUTION
from brokerkit.bench.export import ranking
from brokerkit.bench.results import OK, UNSUPPORTED, Row
from brokerkit.bench.stats import LatencySummary
from brokerkit.bench.workload import from_mapping

pytestmark = pytest.mark.memory

ROOT = Path(__file__).resolve().parent.parent

TINY = """\
description = "tiny: for tests"
message_size = 64
message_count = 2000
batch_size = 100
api = ["async", "sync"]
drain_timeout = 1.0
"""

PACED = """\
description = "tiny paced: for tests"
message_size = 64
duration = 0.5
rate = 2000
batch_size = 1
api = ["async"]
drain_timeout = 1.0
"""


def _bench(tmp_path: Path, *extra: str, code: str = "") -> subprocess.CompletedProcess[str]:
    (tmp_path / "tiny.toml").write_text(TINY)
    (tmp_path / "paced.toml").write_text(PACED)
    argv = [
        "memory://bench-a",
        "memory://bench-b",
        "-w",
        str(tmp_path / "tiny.toml"),
        "-w",
        str(tmp_path / "paced.toml"),
        "-o",
        str(tmp_path / "out"),
        *extra,
    ]
    script = code + "from brokerkit._cli import main; raise SystemExit(main(['bench', *ARGV]))"
    return subprocess.run(
        [sys.executable, "-c", f"ARGV = {argv!r}\n{script}"],
        capture_output=True,
        text=True,
        timeout=180,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "100"},
    )


def test_several_backends_get_comparison_figures_a_ranking_and_a_100_column_table(
    tmp_path: Path,
) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread

    result = _bench(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 100
    assert not any("…" in line for line in lines), "a cell was cut"
    header = next(line for line in lines if "produce/s" in line)
    for name in ("backend / api", "x raw", "consume/s", "ms p50 / p99 / max", "CPU µs", "check"):
        assert name in header
    assert "memory://bench-a" in result.stdout
    assert "memory://bench-b" in result.stdout
    out = tmp_path / "out"
    for workload in ("tiny", "paced"):
        for kind in ("compare-throughput", "compare-latency", "throughput", "latency"):
            path = out / f"{kind}-{workload}.png"
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
            height, width, _ = imread(path).shape
            assert width > 600
            assert height > 400
    markdown = (out / "results.md").read_text(encoding="utf-8")
    assert "## Ranking" in markdown
    assert "**tiny**, ranked by consume msg/s (higher is better)" in markdown
    assert "**paced**, ranked by p99 latency (lower is better)" in markdown
    ranked = [line for line in markdown.splitlines() if line.startswith(("| 1 |", "| 2 |"))]
    assert len(ranked) == 4  # two backends x two workloads


def test_one_backend_gets_no_comparison_figures(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    (tmp_path / "tiny.toml").write_text(TINY)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "brokerkit",
            "bench",
            "memory://",
            "-w",
            str(tmp_path / "tiny.toml"),
            "-o",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert "throughput-tiny.png" in names
    assert not any(n.startswith("compare-") for n in names)
    assert "## Ranking" not in (tmp_path / "out" / "results.md").read_text(encoding="utf-8")


def test_without_matplotlib_the_bench_runs_and_says_how_to_get_plots(tmp_path: Path) -> None:
    block = "import sys; sys.modules['matplotlib'] = None  # as if not installed\n"
    result = _bench(tmp_path, code=block)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"pip install '{DISTRIBUTION}[plots]'" in result.stderr
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert names == {"results.json", "results.csv", "results.md"}


def _row(url: str, consume: float, p99: float, status: str = OK) -> Row:
    latency = LatencySummary(
        count=10, p50=p99 / 2, p95=p99, p99=p99, p999=p99, max=p99, curve=[(50.0, p99 / 2)]
    )
    return Row(
        workload="w",
        url=url,
        scheme=url.split(":")[0],
        api="async",
        target="brokerkit",
        status=status,
        note="no at-least-once delivery here" if status == UNSUPPORTED else "",
        runs=1,
        message_size=100,
        produce_rate=consume,
        consume_rate=consume,
        latency=None if status == UNSUPPORTED else latency,
    )


def test_the_ranking_orders_by_throughput_or_by_latency_when_paced() -> None:
    rows = [
        _row("redis://a", 50_000, 2.0),
        _row("memory://", 500_000, 9.0),
        _row("redis://b?mode=pubsub", 0, 0, UNSUPPORTED),
    ]
    fast = ranking([from_mapping("w", {"message_count": 10})], rows)
    order = [line.split("|")[2].strip() for line in fast.splitlines() if line.startswith("| ")]
    assert order[1:] == ["`memory://`", "`redis://a`", "`redis://b?mode=pubsub`"]
    assert "no at-least-once delivery here" in fast
    paced = ranking(
        [from_mapping("w", {"duration": 1.0, "rate": 100.0, "message_count": None})], rows
    )
    order = [line.split("|")[2].strip() for line in paced.splitlines() if line.startswith("| ")]
    assert order[1:3] == ["`redis://a`", "`memory://`"]

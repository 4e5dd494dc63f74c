"""brokerkit's benchmark suite: ``brokerkit bench URL [URL ...]``.

Runs a workload (``benchmarks/workloads/*.toml``) against every broker URL given, through
brokerkit and through each broker's raw client (``baselines/``), and reports throughput,
latency percentiles, client CPU per message and lost/duplicated messages, with the
brokerkit/raw ratios, as a table, JSON, CSV and PNG plots. See docs/benchmarks.md.

Modules: ``workload`` (loading), ``payload`` (what is sent), ``stats`` (counting and
histograms), ``targets`` (the seam), ``driver`` (brokerkit), ``baselines`` (raw clients),
``loops`` (the harness), ``runner`` (one run), ``schedule`` (the plan), ``results``,
``report`` (terminal), ``export`` (JSON/CSV/Markdown), ``plots`` (PNG), ``cli`` and
``command`` (the command line).

Needs the ``bench`` extra: ``pip install 'brokerkit[bench]'``.
"""

from .cli import main

__all__ = ["main"]

"""brokerkit's benchmark suite: ``brokerkit bench URL [URL ...]``.

Runs a workload (``benchmarks/workloads/*.toml``) against every broker URL given, through
brokerkit and through each broker's raw client (``baselines/``), and reports throughput,
latency percentiles, client CPU per message and lost/duplicated messages, with the
brokerkit/raw ratios, as a table, JSON, CSV and PNG plots. See docs/benchmarks.md.

Modules: ``workload`` (loading), ``payload`` (what is sent), ``stats`` (counting and
histograms), ``targets`` (the seam), ``driver`` (brokerkit), ``baselines`` (raw clients),
``harness`` (what the loops share), ``runner`` (one run), ``schedule`` (the plan),
``results``, ``report`` (terminal), ``export`` (JSON/CSV/Markdown), ``units``, ``plots``
(PNG), ``cli`` and ``command`` (the command line).

Async is the source of truth here too: ``_async/`` holds the harness loops, the session
protocols and the sessions of brokerkit and of each raw client, written once; ``_sync/``
is generated from it by tools/unasync.py, with ``_compat`` naming what is spelled
differently (``AQueue``/``Queue``, ``asleep``/``sleep``, ...).

Needs the ``bench`` extra: ``pip install 'pybrokerkit[bench]'``; the PNG plots also need
the ``plots`` extra (matplotlib).
"""

from .cli import main

__all__ = ["main"]

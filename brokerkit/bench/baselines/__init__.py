"""Raw-client baselines: the same workload driven through a broker's client library
directly, so the report shows brokerkit's ratio to it.

One module per URL scheme, each exposing ``BASELINE`` (a ``targets.Baseline``). A new
backend adds its baseline as one file here and one line in :data:`BASELINES`, or at run
time with :func:`register_baseline`.
"""

from __future__ import annotations

import importlib

from ..targets import Baseline

__all__ = ["BASELINES", "get_baseline", "register_baseline"]

#: URL scheme -> module that defines ``BASELINE``.
BASELINES: dict[str, str] = {
    "memory": "brokerkit.bench.baselines.memory",
    "memphis": "brokerkit.bench.baselines.nats",
    "nats": "brokerkit.bench.baselines.nats",
    "redis": "brokerkit.bench.baselines.redis",
    "rediss": "brokerkit.bench.baselines.redis",
    "tls": "brokerkit.bench.baselines.nats",
}


def register_baseline(scheme: str, module: str) -> None:
    """Use the ``BASELINE`` of ``module`` (a dotted import path) for URLs of ``scheme``."""
    BASELINES[scheme.lower()] = module


def get_baseline(scheme: str) -> Baseline | None:
    """The baseline for ``scheme``, or None when there is none."""
    module = BASELINES.get(scheme.lower())
    if module is None:
        return None
    baseline: Baseline = importlib.import_module(module).BASELINE
    return baseline

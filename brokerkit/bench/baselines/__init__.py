"""Raw-client baselines: the same workload driven through a broker's client library
directly, so the report shows brokerkit's ratio to it.

A backend names its baseline in its spec (``BackendSpec.bench_baseline``, a
``"module:attr"`` of a ``targets.Baseline``; the built-in ones live in this package), so
adding one needs no edit here. :func:`register_baseline` overrides it at run time.
"""

from __future__ import annotations

import importlib

from ..._registry import get_backend
from ..._spec import resolve_object
from ...errors import ConfigurationError
from ..targets import Baseline

__all__ = ["get_baseline", "register_baseline"]

#: Run-time overrides: URL scheme -> module that defines ``BASELINE``.
_OVERRIDES: dict[str, str] = {}


def register_baseline(scheme: str, module: str) -> None:
    """Use the ``BASELINE`` of ``module`` (a dotted import path) for URLs of ``scheme``."""
    _OVERRIDES[scheme.lower()] = module


def get_baseline(scheme: str) -> Baseline | None:
    """The baseline for ``scheme`` (from its backend's spec), or None when there is none."""
    module = _OVERRIDES.get(scheme.lower())
    if module is not None:
        baseline: Baseline = importlib.import_module(module).BASELINE
        return baseline
    try:
        spec = get_backend(scheme)
    except ConfigurationError:
        return None
    if spec.bench_baseline is None:
        return None
    found: Baseline = resolve_object(spec.bench_baseline)
    return found

"""The distribution brokerkit is installed as (``pip install ...``), named once.

The import name is ``brokerkit``; the distribution name on the package index is not (the
name ``brokerkit`` there belongs to an unrelated project). Every install hint, in errors,
the command line and the docs, is built from :data:`DISTRIBUTION`.
"""

from __future__ import annotations

__all__ = ["DISTRIBUTION", "pip_install"]

DISTRIBUTION = "pybrokerkit"


def pip_install(*extras: str) -> str:
    """The command that installs brokerkit with ``extras``: ``pip install 'pybrokerkit[redis]'``."""
    if not extras:
        return f"pip install {DISTRIBUTION}"
    return f"pip install '{DISTRIBUTION}[{','.join(extras)}]'"

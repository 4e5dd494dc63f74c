"""How the reports write figures."""

from __future__ import annotations

__all__ = ["duration"]


def duration(ms: float, micro: str = "us") -> str:
    """A latency in the unit that reads best: 850 us, 12.3 ms, 1.25 s (``micro``: how
    microseconds are written)."""
    if ms < 1:
        return f"{ms * 1000:.0f} {micro}"
    if ms < 10:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.1f} ms"
    return f"{ms / 1000:.2f} s"

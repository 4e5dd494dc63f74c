"""Validation of what the application asks of a consumer: receive() and receive_many().

Called by the facade before any I/O, so a wrong type is a TypeError / ValueError saying
what was given and what is accepted, not a comparison error deep inside a driver.
"""

from __future__ import annotations

import math

__all__ = ["check_max_messages", "check_timeout"]


def check_timeout(timeout: object, what: str = "receive()") -> float | None:
    """``timeout`` as a float >= 0, or None (wait without bound).

    TypeError for anything but None, an int or a float (a str such as "1" included, and
    bool); ValueError for a negative number or NaN.
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(
            f"{what} timeout must be a number of seconds (int or float) or None, "
            f"got {type(timeout).__name__} {timeout!r}"
        )
    value = float(timeout)
    if value < 0 or math.isnan(value):
        raise ValueError(
            f"{what} timeout must be a number of seconds >= 0 or None, got {timeout!r}"
        )
    return value


def check_max_messages(max_messages: object) -> int:
    """``max_messages`` of receive_many(): an int >= 1 (TypeError for any other type,
    bool and str included; ValueError below 1)."""
    if isinstance(max_messages, bool) or not isinstance(max_messages, int):
        raise TypeError(
            "receive_many() max_messages must be an int >= 1, got "
            f"{type(max_messages).__name__} {max_messages!r}"
        )
    if max_messages < 1:
        raise ValueError(f"receive_many() max_messages must be >= 1, got {max_messages!r}")
    return int(max_messages)

"""Test-session cleanup for the redis backend (``spec.test_cleanup``)."""

from __future__ import annotations

import redis

from ..._url import make_url


def cleanup(url: str, prefix: str) -> None:
    """Delete every key of the database ``url`` names whose name contains ``prefix`` (the
    streams and channels a test session made). An unreachable server is left alone."""
    if "mode=pubsub" in url:
        return  # channels leave nothing behind
    parsed = make_url(url)
    host, port = parsed.hosts[0] if parsed.hosts else ("127.0.0.1", 6379)
    try:
        client = redis.Redis(
            host=host or "127.0.0.1",
            port=port or 6379,
            db=int((parsed.path or "0").strip("/") or 0),
            password=parsed.password,
            username=parsed.username,
            socket_connect_timeout=2,
            socket_timeout=10,
        )
        with client:
            keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
            for i in range(0, len(keys), 500):
                client.delete(*keys[i : i + 500])
    except redis.RedisError:
        return

"""The portal's event loop: uvloop's where it is installed, asyncio's on request."""

from __future__ import annotations

import asyncio

import pytest

from brokerkit._portal import LOOP_ENV, new_loop


def test_uvloop_runs_the_portal_where_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    uvloop = pytest.importorskip("uvloop")
    monkeypatch.delenv(LOOP_ENV, raising=False)
    loop = new_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
        assert loop.run_until_complete(asyncio.sleep(0, result=42)) == 42
    finally:
        loop.close()


def test_asyncio_loop_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOOP_ENV, "asyncio")
    loop = new_loop()
    try:
        assert type(loop).__module__.startswith("asyncio")
    finally:
        loop.close()

"""docs/examples/photovote: the FastAPI app and the vote-counting processor, together on
every processor variant: thousands of concurrent requests, every vote counted once."""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from brokerkit.testing import unique_group, unique_topic

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
VOTES = 2000
PHOTOS = 10
WAIT = 60.0


@pytest.fixture
def photovote(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    for name in [n for n in sys.modules if n == "photovote" or n.startswith("photovote.")]:
        monkeypatch.delitem(sys.modules, name)
    return importlib.import_module("photovote.app"), importlib.import_module("photovote.worker")


async def test_every_vote_counted_exactly_once(
    processor_url: str, photovote: tuple[Any, Any]
) -> None:
    app_module, worker = photovote
    topic, group = unique_topic(), unique_group()
    app = app_module.create_app(processor_url, topic)
    tally = worker.Tally()
    processor = worker.make_processor(tally)
    ready = asyncio.Event()
    processor.before_processing(lambda _ctx: ready.set())
    run = asyncio.ensure_future(
        processor.run_async(processor_url, topics=topic, group=group, concurrency=8)
    )
    await asyncio.wait_for(ready.wait(), WAIT)

    expected: Counter[int] = Counter()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://photovote") as client:
            photos = await asyncio.gather(
                *(
                    client.post("/photos", json={"photo_id": p, "title": f"photo {p}"})
                    for p in range(PHOTOS)
                )
            )
            assert [r.status_code for r in photos] == [202] * PHOTOS
            replies = await asyncio.gather(
                *(
                    client.post(f"/photos/{i % PHOTOS}/votes", json={"voter": f"voter-{i}"})
                    for i in range(VOTES)
                )
            )
            for i, reply in enumerate(replies):
                assert reply.status_code == 202, reply.text
                expected[i % PHOTOS] += 1
            vote_ids = {r.json()["vote_id"] for r in replies}
            assert len(vote_ids) == VOTES

    deadline = time.monotonic() + WAIT
    while (tally.total < VOTES or len(tally.titles) < PHOTOS) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    processor.stop()
    await asyncio.wait_for(run, WAIT)
    assert tally.votes == expected
    assert tally.total == VOTES
    assert tally.duplicates == 0  # no crash here, so no redelivery either
    assert tally.titles == {p: f"photo {p}" for p in range(PHOTOS)}

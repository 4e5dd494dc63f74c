"""The PhotoVote worker: a processor counting votes per photo.

    cd docs/examples && brokerkit run photovote.worker:processor \
        --url redis://localhost:6379/0 --topic photovote --group vote-counter --concurrency 8
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import brokerkit

from .events import PHOTO_UPLOADED, VOTE_CAST, PhotoUploaded, VoteCast

log = logging.getLogger("photovote")


class Tally:
    """Votes per photo. Delivery is at-least-once, so a vote may come twice (after a
    crash before its ack): counting by vote id makes the count exactly once."""

    def __init__(self) -> None:
        self.titles: dict[int, str] = {}
        self.votes: Counter[int] = Counter()
        self.duplicates = 0
        self._seen: set[str] = set()
        self._lock = threading.Lock()  # sync handlers run on a thread pool

    def add_vote(self, vote: VoteCast) -> None:
        with self._lock:
            if vote.vote_id in self._seen:
                self.duplicates += 1
                return
            self._seen.add(vote.vote_id)
            self.votes[vote.photo_id] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.votes.values())


def event_type(name: str) -> Callable[[Any], bool]:
    """A matcher: the messages whose ``event-type`` header is ``name``."""
    return lambda message: message.headers.get("event-type") == name


def make_processor(tally: Tally) -> brokerkit.Processor:
    processor = brokerkit.Processor(retries=3)

    @processor.handle_for(event_type(PHOTO_UPLOADED), decoder=PhotoUploaded)
    async def photo_uploaded(event: PhotoUploaded, ctx: brokerkit.HandlingContext) -> None:
        tally.titles[event.photo_id] = event.title

    @processor.handle_for(event_type(VOTE_CAST), decoder=VoteCast)
    def vote_cast(event: VoteCast, ctx: brokerkit.HandlingContext) -> None:
        tally.add_vote(event)

    @processor.after_processing
    def report(ctx: brokerkit.ProcessingContext) -> None:
        log.info("votes per photo: %s", dict(tally.votes.most_common()))

    return processor


tally = Tally()
processor = make_processor(tally)

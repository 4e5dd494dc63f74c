"""The PhotoVote API: endpoints publish events through ONE long-lived async producer,
opened in the app's lifespan (not one connection per request).

    cd docs/examples && BROKER_URL=redis://localhost:6379/0 uvicorn photovote.app:app
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from pydantic import BaseModel

import brokerkit

from .events import PHOTO_UPLOADED, VOTE_CAST, PhotoUploaded, VoteCast


class NewPhoto(BaseModel):
    photo_id: int
    title: str


class NewVote(BaseModel):
    voter: str


def create_app(url: str | None = None, topic: str = "photovote") -> FastAPI:
    """The app, publishing to ``topic`` on ``url``. Concurrent requests share the
    producer's batches: each waits for its own message only."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with brokerkit.connect_async(url) as broker, broker.producer(topic) as producer:
            app.state.producer = producer
            yield

    app = FastAPI(title="PhotoVote", lifespan=lifespan)

    async def publish(request: Request, event: BaseModel, event_type: str, key: str) -> None:
        producer: brokerkit.AsyncProducer = request.app.state.producer
        body = event.model_dump_json()
        # wait=True: returns once the broker stored it (at-least-once), so a 2xx means the
        # event is safe; concurrent requests share one batch instead of a round trip each
        await producer.send(body, key=key, headers={"event-type": event_type}, wait=True)

    @app.post("/photos", status_code=202)
    async def upload_photo(photo: NewPhoto, request: Request) -> dict[str, int]:
        event = PhotoUploaded(photo_id=photo.photo_id, title=photo.title)
        await publish(request, event, PHOTO_UPLOADED, key=str(photo.photo_id))
        return {"photo_id": photo.photo_id}

    @app.post("/photos/{photo_id}/votes", status_code=202)
    async def cast_vote(photo_id: int, vote: NewVote, request: Request) -> dict[str, str]:
        event = VoteCast(vote_id=uuid.uuid4().hex, photo_id=photo_id, voter=vote.voter)
        await publish(request, event, VOTE_CAST, key=str(photo_id))
        return {"vote_id": event.vote_id}

    return app


app = create_app(os.environ.get("BROKER_URL"), os.environ.get("PHOTOVOTE_TOPIC", "photovote"))

"""The events PhotoVote publishes: JSON bodies, the type in the ``event-type`` header."""

from __future__ import annotations

from pydantic import BaseModel

PHOTO_UPLOADED = "photo-uploaded"
VOTE_CAST = "vote-cast"


class PhotoUploaded(BaseModel):
    photo_id: int
    title: str


class VoteCast(BaseModel):
    vote_id: str  # unique per vote: the worker counts each vote once, even if redelivered
    photo_id: int
    voter: str

"""Decoders: turn a message's bytes into the payload a handler gets.

A decoder is any object with ``decode(value: bytes) -> Any`` that raises on bad input.
``JSON`` decodes JSON; a pydantic model class (when pydantic is installed) is wrapped in
:class:`PydanticDecoder`, which validates the JSON into an instance of the model.
"""

from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable

from .._dist import pip_install

__all__ = ["JSON", "Decoder", "JSONDecoder", "PydanticDecoder", "as_decoder"]


@runtime_checkable
class Decoder(Protocol):
    """Anything with ``decode(bytes) -> payload``; raising means the message cannot be
    decoded (it is then dead-lettered with the error as the reason)."""

    def decode(self, value: bytes) -> Any: ...


class JSONDecoder:
    """Decodes UTF-8 JSON (``json.loads``)."""

    __slots__ = ()

    def decode(self, value: bytes) -> Any:
        return json.loads(value)

    def __repr__(self) -> str:
        return "JSON"


JSON = JSONDecoder()


class PydanticDecoder:
    """Validates JSON bytes into an instance of a pydantic model class."""

    __slots__ = ("model",)

    def __init__(self, model: Any) -> None:
        self.model: Any = model

    def decode(self, value: bytes) -> Any:
        return self.model.model_validate_json(value)

    def __repr__(self) -> str:
        return f"PydanticDecoder({self.model.__name__})"


def _is_pydantic_model(obj: object) -> bool:
    try:
        from pydantic import BaseModel
    except ImportError:
        return False
    return isinstance(obj, type) and issubclass(obj, BaseModel)


def as_decoder(obj: object) -> Decoder | None:
    """``obj`` as a decoder: None, ``JSON``/``"json"``, a pydantic model class or any
    object with a ``decode(bytes)`` method; anything else raises a TypeError saying so."""
    if obj is None:
        return None
    if isinstance(obj, str) and obj.lower() == "json":
        return JSON
    if _is_pydantic_model(obj):
        return PydanticDecoder(obj)
    if not isinstance(obj, type) and isinstance(obj, Decoder):
        return obj
    raise TypeError(
        f"decoder={obj!r} is not a decoder: accepted are brokerkit.processor.JSON (or "
        f"'json'), a pydantic model class (needs `{pip_install('pydantic')}`), or an "
        "object with a decode(bytes) method"
    )

"""Message processing on any broker: handlers chosen by matchers, hooks, retries, decoders,
a dead-letter store and a test client. See docs/processor.md.

    proc = brokerkit.Processor()

    @proc.handle_for(lambda m: m.headers.get("event-type") == "vote")
    def count_vote(message, ctx): ...

    proc.run("redis://localhost:6379/0", topics=["votes"], group="counter")
"""

from ._context import HandlingContext, ProcessingContext
from ._decoders import JSON, Decoder, JSONDecoder, PydanticDecoder
from ._dlq import DeadLetter, DeadLetterStore, SQLiteDLQ
from ._processor import Processor
from ._testclient import TestClient, TestMessage

__all__ = [
    "JSON",
    "DeadLetter",
    "DeadLetterStore",
    "Decoder",
    "HandlingContext",
    "JSONDecoder",
    "ProcessingContext",
    "Processor",
    "PydanticDecoder",
    "SQLiteDLQ",
    "TestClient",
    "TestMessage",
]

"""The conformance suite's async source (``_sync`` is generated from it)."""

"""The hand-written async facade. ``brokerkit/_sync`` is generated from it by tools/unasync.py."""

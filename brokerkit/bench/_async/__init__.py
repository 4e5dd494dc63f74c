"""The benchmark's hand-written async side: the harness loops, and the sessions of brokerkit
and of the raw clients. ``brokerkit/bench/_sync`` is generated from it by tools/unasync.py."""

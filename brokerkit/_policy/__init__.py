"""Delivery policy, written once and free of I/O.

Pure objects given a clock that return decisions; both facades (async, and the sync one
generated from it) and every driver call into them. No ``await``, threads or sleeps here.
"""

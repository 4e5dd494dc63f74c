"""A short demo on the embedded broker: ``python -m brokerkit.demo [URL]``.

One producer publishes orders; group "billing" has two members that share them, group
"audit" has one member that sees every order. Runs on ``memory://`` by default (no
server); pass a URL (or set $BROKERKIT_URL) to run the same code against a real broker.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from collections import Counter

import brokerkit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m brokerkit.demo",
        description="One producer sends 10 orders; group 'billing' (two members) shares "
        "them, group 'audit' (one member) sees every one. Exit status 0 when each group "
        "got all 10.",
    )
    parser.add_argument(
        "url",
        nargs="?",
        metavar="URL",
        help="the broker (default: $BROKERKIT_URL, else memory://, which needs no server)",
    )
    url = parser.parse_args(sys.argv[1:] if argv is None else argv).url
    topic = f"orders-{uuid.uuid4().hex[:8]}"
    with brokerkit.connect(url) as broker:
        print(f"connected: {broker!r}")
        print(
            f"capabilities: {', '.join(k for k, v in broker.capabilities.as_dict().items() if v)}"
        )
        # Subscribe first: a group receives what is published after it exists.
        billing = [broker.consumer(topic, group="billing", prefetch=2) for _ in range(2)]
        audit = broker.consumer(topic, group="audit", commit="sync")

        with broker.producer(topic) as producer:
            for i in range(10):
                producer.send(
                    f'{{"order": {i}, "amount": {10 + i}}}',
                    key=f"customer-{i % 3}",
                    headers={"event-type": "order-created"},
                )
            producer.flush()
        print(f"sent 10 orders to {topic!r}")

        got: Counter[str] = Counter()
        lock = threading.Lock()

        def drain(name: str, consumer: brokerkit.Consumer) -> None:
            while batch := consumer.receive_many(max_messages=3, timeout=0.5):
                for message in batch:
                    with lock:
                        got[name] += 1
                        print(
                            f"  {name:<9} got id={message.id:<4} key={message.key!r} "
                            f"value={message.value.decode()} "
                            f"event-type={message.headers['event-type']}"
                        )
                    time.sleep(0.02)  # the work a real handler would do
                    message.ack()

        threads = [
            threading.Thread(target=drain, args=(f"billing-{n}", c)) for n, c in enumerate(billing)
        ]
        threads.append(threading.Thread(target=drain, args=("audit", audit)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        shared = got["billing-0"] + got["billing-1"]
        print(
            f"billing members shared {shared} orders ({got['billing-0']} + {got['billing-1']}); "
            f"audit saw {got['audit']}"
        )
        return 0 if shared == 10 and got["audit"] == 10 else 1


if __name__ == "__main__":
    sys.exit(main())

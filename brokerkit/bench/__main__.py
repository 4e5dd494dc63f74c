"""``python -m brokerkit.bench URL [URL ...]``."""

from .cli import main

raise SystemExit(main())

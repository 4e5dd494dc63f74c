"""``python -m brokerkit``: the ``brokerkit`` command."""

from ._cli import main

raise SystemExit(main())

"""``python -m channelopt``: the command line (see :mod:`channelopt.cli`)."""

from .cli import main

raise SystemExit(main())

"""``python -m channelopt``: the command line (see :mod:`channelopt.apps.cli`)."""

from channelopt.apps.cli import main

raise SystemExit(main())

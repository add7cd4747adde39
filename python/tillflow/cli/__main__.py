"""``python -m tillflow.cli``: the ``tillflow`` command."""

from tillflow.cli import main

raise SystemExit(main())

"""``python3 -m socketlab.grader``: see :mod:`socketlab.grader.cli`."""

from .cli import main

raise SystemExit(main())

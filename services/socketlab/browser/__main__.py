"""``python3 -m socketlab.browser URL``: see :mod:`socketlab.browser.cli`."""

import sys

from .cli import main

sys.exit(main())

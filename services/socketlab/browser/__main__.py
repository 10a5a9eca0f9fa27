"""``python3 -m socketlab.browser URL``: see :mod:`socketlab.browser.cli`."""

from .cli import exit_fast, main

exit_fast(main())

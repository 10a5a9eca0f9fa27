"""``python3 -m socketlab.impair``: run the relay."""

import sys

from .server import main

sys.exit(main())

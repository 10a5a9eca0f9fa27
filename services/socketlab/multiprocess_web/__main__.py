"""``python3 -m socketlab.multiprocess_web``: the process-based WSGI server (:mod:`.server`)."""

import sys

from .server import main

sys.exit(main())

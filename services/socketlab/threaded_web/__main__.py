"""``python3 -m socketlab.threaded_web``: the static HTTP/1.1 server (:mod:`.server`)."""

import sys

from .server import main

sys.exit(main())

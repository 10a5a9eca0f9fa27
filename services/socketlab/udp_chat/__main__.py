"""``python3 -m socketlab.udp_chat``: the udp-chat relay (:mod:`socketlab.udp_chat.server`).

The terminal client is ``python3 -m socketlab.udp_chat.client``.
"""

import sys

from .server import main

sys.exit(main())

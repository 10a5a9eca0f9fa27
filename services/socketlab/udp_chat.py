"""``python3 -m socketlab.udp_chat``: the multi-user UDP chat relay (see socketlab.chat.server)."""

import sys

from socketlab.chat.server import main

if __name__ == "__main__":
    sys.exit(main())

"""``python3 -m socketlab.chat_client``: the udp-chat terminal client (socketlab.chat.client)."""

import sys

from socketlab.chat.client import main

if __name__ == "__main__":
    sys.exit(main())

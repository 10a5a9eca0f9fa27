"""``python3 -m soak``: run the fault suite (see :mod:`soak.run`)."""

import sys

from soak.run import main

if __name__ == "__main__":
    sys.exit(main())

"""socketlab: small, dependable network services that make socket programming visible.

The package uses only the Python standard library (3.11+), so the lab's images build offline.
Services run as ``python3 -m socketlab.<service>``; see README.md for the list.
"""

__version__ = "0.1.0"

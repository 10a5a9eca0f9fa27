"""Send GET /delay/1 to HOST:PORT every 0.1 s, COUNT times, each on a new connection.

    python3 - HOST PORT [COUNT] < delay_every.py

Each request runs in its own thread, so a slow answer never holds up the next request; each
waits 5 s at most. One line per request (when it started, how long it took, the status), then
how many were answered.
"""

import http.client
import sys
import threading
import time

host, port = sys.argv[1], int(sys.argv[2])
count = int(sys.argv[3]) if len(sys.argv) > 3 else 10
results = [None] * count
began = time.monotonic()


def fetch(index):
    started = time.monotonic()
    try:
        conn = http.client.HTTPConnection(host, port, timeout=5)
        conn.request("GET", "/delay/1")
        status = conn.getresponse().status
        conn.close()
    except OSError as exc:
        status = type(exc).__name__
    results[index] = (started - began, time.monotonic() - started, status)


threads = []
for i in range(count):
    thread = threading.Thread(target=fetch, args=(i,))
    thread.start()
    threads.append(thread)
    time.sleep(0.1)
for thread in threads:
    thread.join()
for i, (start, took, status) in enumerate(results):
    print(f"request {i + 1}: sent at {start:.1f} s, answer {status} after {took:.2f} s")
ok = sum(1 for _, _, status in results if status == 200)
print(f"{ok} of {count} answered 200")

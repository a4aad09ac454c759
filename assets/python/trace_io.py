"""Threads that only sleep or wait on sockets, for `threadlab trace` tests.

    python trace_io.py [SECONDS]

Two threads sleep in small steps, two wait on a loopback socket pair with a
timeout; the GIL stays mostly free.
"""
import socket
import sys
import threading
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 0.4


def sleeper():
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.01)


def waiter():
    a, b = socket.socketpair()
    a.settimeout(0.02)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            a.recv(1)
        except socket.timeout:
            pass
    a.close()
    b.close()


threads = [threading.Thread(target=f) for f in (sleeper, sleeper, waiter, waiter)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("io done")

"""How long the convoy's round trip runs Python, beyond its syscalls.

    python3.11 convoy_python.py [ROUND_TRIPS]

Runs `threadlab_bench.py convoy`'s round trip (`sendall`, `recv_exact`, its
two clock reads and the append) on a connected loopback pair where the
reply is already there, with no other thread, and prints one JSON line: the
microseconds per round trip. `benches/convoy_shape.rs` times the same
syscalls without Python and prints the difference: the Python the emulated
convoy's I/O thread runs between its releases (`lab::experiments`'s
`AFTER_RECV` and `AFTER_SEND`).
"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "assets", "python"))
import threadlab_bench as tb  # noqa: E402

n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1)
conn = socket.create_connection(listener.getsockname())
peer, _ = listener.accept()
listener.close()
conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
payload = b"x" * 64
rtts = []
began = time.perf_counter()
for _ in range(n):
    sent = time.time()
    conn.sendall(payload)
    tb.recv_exact(peer, 64)
    rtts.append((time.time() - sent) * 1000.0)
us = (time.perf_counter() - began) / n * 1e6
conn.close()
peer.close()
print(json.dumps({"us_per_round_trip": us}))

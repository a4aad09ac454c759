"""The one-CPU convoy of `threadlab compare convoy`, counted per release.

    python3.11 convoy_split.py [SECONDS]

The same round trips as `assets/python/threadlab_bench.py convoy` beside one
CPU thread (its own functions, an echo helper process), but each `sendall`
and each `recv_exact` is timed on its own: a call that lasted over 1 ms
waited for the GIL after that release. Prints one JSON line: round trips
per second, round trips, waits after `sendall`, after `recv`, and round
trips that waited after both. `benches/convoy_shape.rs` runs it beside the
emulated convoy counted the same way.
"""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "assets", "python"))
import threadlab_bench as tb  # noqa: E402

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1)
echo = tb.helper_process("echo", listener.getsockname()[1], [])
conn, _ = listener.accept()
conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
stop, threads, _ = tb.start_cpu(1)
payload = b"x" * 64
clock = time.perf_counter
sends, recvs = [], []


def round_trips():
    start = time.time()
    while time.time() - start < seconds:
        a = clock()
        conn.sendall(payload)
        b = clock()
        tb.recv_exact(conn, 64)
        c = clock()
        sends.append(b - a)
        recvs.append(c - b)


t = threading.Thread(target=round_trips)
t.start()
t.join()
tb.stop_cpu(stop, threads)
conn.close()
echo.wait()
listener.close()
waited_send = [s > 1e-3 for s in sends]
waited_recv = [r > 1e-3 for r in recvs]
print(json.dumps({
    "round_trips_per_s": len(sends) / seconds,
    "round_trips": len(sends),
    "waits_after_send": sum(waited_send),
    "waits_after_recv": sum(waited_recv),
    "both": sum(1 for s, r in zip(waited_send, waited_recv) if s and r),
}))

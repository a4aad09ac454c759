"""The convoy effect, for `threadlab trace` tests.

    python trace_convoy.py [SECONDS]

One thread does TCP round trips over 127.0.0.1 with an echo server in a
separate process, so each recv really blocks and releases the GIL; beside it
one CPU-bound thread takes the GIL meanwhile. When the reply arrives the I/O
thread waits about one switch interval to get the GIL back. Prints the round
trips done.
"""
import socket
import subprocess
import sys
import threading
import time

ECHO = """
import socket, sys
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1)
print(listener.getsockname()[1], flush=True)
conn, _ = listener.accept()
while True:
    data = conn.recv(64)
    if not data:
        break
    conn.sendall(data)
"""

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 0.4
echo = subprocess.Popen([sys.executable, "-c", ECHO], stdout=subprocess.PIPE)
port = int(echo.stdout.readline())
done = threading.Event()


def spin():
    x = 0
    while not done.is_set():
        for i in range(2000):
            x += i


def round_trips():
    client = socket.create_connection(("127.0.0.1", port))
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        client.sendall(b"x")
        client.recv(1)
        n += 1
    done.set()
    client.close()
    print("round trips", n)


threads = [threading.Thread(target=spin), threading.Thread(target=round_trips)]
for t in threads:
    t.start()
for t in threads:
    t.join()
echo.wait()

"""For the trace dashboard's pty test: two CPU-bound threads for about a
second while the main thread redraws a progress line with carriage
returns, then a coloured last line.

    python trace_show.py [SECONDS]
"""
import sys
import threading
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


def spin():
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        for i in range(2000):
            x += i


threads = [threading.Thread(target=spin) for _ in range(2)]
for t in threads:
    t.start()
for step in range(5):
    sys.stdout.write("\rprogress %3d%%" % (step * 25))
    sys.stdout.flush()
    time.sleep(seconds / 5)
sys.stdout.write("\n")
for t in threads:
    t.join()
print("\x1b[32mall done\x1b[0m", flush=True)

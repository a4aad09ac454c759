"""Two (or N) CPU-bound threads for `threadlab trace` tests.

    python trace_cpu.py [SECONDS] [SWITCH_INTERVAL_S] [THREADS]

Each thread spins on integer additions for SECONDS of wall time (default
0.4), so with the GIL they take turns in slices of about one switch interval.
Prints the loop iterations all threads did (the work done, for the
tracer-overhead bench) and the process's CPU time (probe traps count in it).
"""
import sys
import threading
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 0.4
if len(sys.argv) > 2:
    sys.setswitchinterval(float(sys.argv[2]))
count = int(sys.argv[3]) if len(sys.argv) > 3 else 2


done = []


def spin():
    end = time.monotonic() + seconds
    x = 0
    n = 0
    while time.monotonic() < end:
        for i in range(2000):
            x += i
        n += 1
    done.append(n)


threads = [threading.Thread(target=spin, name="cpu-%d" % n) for n in range(count)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("cpu done, iterations", sum(done), "cpu_s %.4f" % time.process_time())

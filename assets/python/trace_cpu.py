"""Two (or N) CPU-bound threads for `threadlab trace` tests.

    python trace_cpu.py [SECONDS] [SWITCH_INTERVAL_S] [THREADS]

Each thread spins on integer additions for SECONDS of wall time (default
0.4), so with the GIL they take turns in slices of about one switch interval.
Prints the loop iterations all threads did (the work done, for the
tracer-overhead bench) and the process's CPU time (probe traps count in it).
Runs on Python 2.7 too (sampled traces of 2.7), where SWITCH_INTERVAL_S is
ignored: 2's GIL switches every 100 bytecodes instead.
"""
import sys
import threading
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 0.4
if len(sys.argv) > 2 and hasattr(sys, "setswitchinterval"):
    sys.setswitchinterval(float(sys.argv[2]))
monotonic = getattr(time, "monotonic", time.time)
cpu_time = getattr(time, "process_time", None) or time.clock
count = int(sys.argv[3]) if len(sys.argv) > 3 else 2


done = []


def spin():
    end = monotonic() + seconds
    x = 0
    n = 0
    while monotonic() < end:
        for i in range(2000):
            x += i
        n += 1
    done.append(n)


threads = [threading.Thread(target=spin, name="cpu-%d" % n) for n in range(count)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("cpu done, iterations %d cpu_s %.4f" % (sum(done), cpu_time()))

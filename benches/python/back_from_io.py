"""A thread back from I/O beside two CPU-bound threads, in a real CPython:
the main thread sleeps 5-25 ms (the GIL released) and times how much longer
than the sleep it took to run Python again -- its wait for the GIL, plus
the sleep's own few microseconds late. `benches/back_from_io.rs` runs it
beside the emulation's same loop.

    python back_from_io.py SECONDS

Prints one line: "n N p50 MS p90 MS p99 MS".
"""
import random
import sys
import threading
import time

STOP = []


def cpu():
    x = 1
    while not STOP:
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 8.0
    threads = [threading.Thread(target=cpu) for _ in range(2)]
    for t in threads:
        t.start()
    waits = []
    rng = random.Random(1)
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        sleep = (5000 + rng.randrange(20000)) / 1e6
        asleep = time.perf_counter()
        time.sleep(sleep)
        waits.append((time.perf_counter() - asleep - sleep) * 1000.0)
    STOP.append(True)
    for t in threads:
        t.join()
    waits.sort()
    at = lambda p: waits[int((len(waits) - 1) * p)]
    print("n %d p50 %.2f p90 %.2f p99 %.2f" % (len(waits), at(0.5), at(0.9), at(0.99)))


if __name__ == "__main__":
    main()

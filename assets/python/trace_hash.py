"""A thread hashing a large buffer (hashlib releases the GIL), for
`threadlab trace` tests: it runs native code without the GIL.

    python trace_hash.py [MIB]

Prints the hasher's share of wall time on a CPU (`hasher_cpu_pct N`).
"""
import hashlib
import sys
import threading
import time

mib = int(sys.argv[1]) if len(sys.argv) > 1 else 64
buffer = b"\x5a" * (mib << 20)


def cpu_ns():
    """This thread's time on a CPU (Linux schedstat), or None."""
    try:
        with open("/proc/self/task/%d/schedstat" % threading.get_native_id()) as f:
            return int(f.read().split()[0])
    except (OSError, AttributeError, ValueError):
        return None


def digest():
    start, cpu = time.monotonic(), cpu_ns()
    for _ in range(3):
        hashlib.sha256(buffer).hexdigest()
    end = cpu_ns()
    if cpu is not None and end is not None:
        # What the tracer's native share should match: the hasher runs
        # native code whenever it is on a CPU, and the machine decides
        # how often that is.
        share = (end - cpu) / 1e9 / (time.monotonic() - start)
        print("hasher_cpu_pct %.1f" % (100 * share), flush=True)


t = threading.Thread(target=digest, name="hasher")
t.start()
t.join()
print("hash done")

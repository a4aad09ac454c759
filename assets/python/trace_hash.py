"""A thread hashing a large buffer (hashlib releases the GIL), for
`threadlab trace` tests: it runs native code without the GIL.

    python trace_hash.py [MIB]
"""
import hashlib
import sys
import threading

mib = int(sys.argv[1]) if len(sys.argv) > 1 else 64
buffer = b"\x5a" * (mib << 20)


def digest():
    for _ in range(3):
        hashlib.sha256(buffer).hexdigest()


t = threading.Thread(target=digest, name="hasher")
t.start()
t.join()
print("hash done")

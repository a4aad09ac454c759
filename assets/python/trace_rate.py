"""Runs until killed, printing how many GIL hand-offs it manages per 100 ms.

    python trace_rate.py

Each iteration releases and re-takes the GIL (os.fstat releases it around
its syscall), so uprobes on take_gil/drop_gil slow it down measurably:
`threadlab attach` tests read the rate before, during and after tracing.
Flushes every line.
"""
import os
import time

fd = os.open(".", os.O_RDONLY)

print("ready", flush=True)
while True:
    end = time.monotonic() + 0.1
    n = 0
    while time.monotonic() < end:
        os.fstat(fd)
        n += 1
    print("rate", n, flush=True)

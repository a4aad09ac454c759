#!/usr/bin/env python
"""Which function holds the GIL: a known answer for `threadlab trace`.

Thread "worker" alternates ``three_units()`` (three units of CPU work) and
``one_unit()`` (one unit) beside thread "rival", a plain CPU loop; so
three_units should own about 75 % of worker's GIL hold. After a while the
worker renames itself "renamed-worker" (names are read live). Standard
library only; Python 2.7 and 3.x.

    python trace_functions.py [SECONDS [RIVAL_NAME]]

RIVAL_NAME names the rival thread (tests give it control characters: a
traced program's names are untrusted).
"""
from __future__ import print_function

import sys
import threading
import time

UNIT = 20000
stop = threading.Event()


def three_units():
    # The loop is inline (not a shared helper): samples charge the
    # innermost function, and this one must be it.
    x = 0
    for _ in range(3 * UNIT):
        x += 1
    return x


def one_unit():
    x = 0
    for _ in range(UNIT):
        x += 1
    return x


def work():
    me = threading.current_thread()
    renamed = False
    started = time.time()
    while not stop.is_set():
        three_units()
        one_unit()
        if not renamed and time.time() - started > 0.5:
            me.name = "renamed-worker"
            renamed = True


def rival():
    x = 0
    while not stop.is_set():
        x += 1


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    rival_name = sys.argv[2] if len(sys.argv) > 2 else "rival"
    threads = [
        threading.Thread(target=work, name="worker"),
        threading.Thread(target=rival, name=rival_name),
    ]
    for t in threads:
        t.start()
    print("started")
    sys.stdout.flush()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()

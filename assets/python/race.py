#!/usr/bin/env python
"""threadlab's race loops in real Python, for `threadlab compare race`.

N threads each increment one global counter M times, with one of three loop
bodies, and the script prints one JSON object per body and line:

    {"body": "plain", "threads": 4, "increments": 200000, "lost": 12345,
     "wall_s": 0.21, "python_version": "3.9.18", "gil_enabled": true}

* plain  -- ``counter += 1``
* call   -- ``counter = inc(counter)`` (a call between the load and the store)
* locked -- ``with lock: counter += 1``

``lost`` is threads * increments minus the final counter: updates that one
thread's store overwrote. Standard library only; runs on Python 2.7 and 3.x.

    python race.py --threads 4 --increments 200000 --bodies plain,call,locked
"""
from __future__ import print_function

import json
import platform
import sys
import threading
import time

try:  # Python 2
    steps = xrange  # noqa: F821
except NameError:  # Python 3
    steps = range

counter = 0
lock = threading.Lock()


def inc(x):
    return x + 1


def plain(n):
    global counter
    for _ in steps(n):
        counter += 1


def call(n):
    global counter
    for _ in steps(n):
        counter = inc(counter)


def locked(n):
    global counter
    for _ in steps(n):
        with lock:
            counter += 1


BODIES = {"plain": plain, "call": call, "locked": locked}


def gil_enabled():
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def race(body, threads, increments):
    """Runs one race; returns (lost updates, wall seconds)."""
    global counter
    counter = 0
    go = threading.Event()
    loop = BODIES[body]

    def worker():
        go.wait()
        loop(increments)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    start = time.time()
    go.set()
    for t in pool:
        t.join()
    wall = time.time() - start
    return threads * increments - counter, wall


def main(argv):
    threads, increments, bodies = 4, 200000, ["plain", "call", "locked"]
    args = list(argv)
    while args:
        flag = args.pop(0)
        if not args:
            sys.exit("race.py: %s needs a value" % flag)
        value = args.pop(0)
        if flag == "--threads":
            threads = int(value)
        elif flag == "--increments":
            increments = int(value)
        elif flag == "--bodies":
            bodies = value.split(",")
        elif flag == "--interval":
            if hasattr(sys, "setswitchinterval"):
                sys.setswitchinterval(float(value) / 1000.0)
        else:
            sys.exit("race.py: unknown option %s" % flag)
    for body in bodies:
        if body not in BODIES:
            sys.exit("race.py: unknown body %s (plain, call, locked)" % body)
        lost, wall = race(body, threads, increments)
        print(json.dumps({
            "body": body,
            "threads": threads,
            "increments": increments,
            "lost": lost,
            "wall_s": round(wall, 4),
            "python_version": platform.python_version(),
            "gil_enabled": gil_enabled(),
        }))
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])

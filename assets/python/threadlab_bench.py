#!/usr/bin/env python
"""threadlab's experiments in real Python, for `threadlab compare`.

Runs the same experiments as `threadlab bench` -- throughput, io, latency,
convoy -- with real threads in this interpreter, and prints one JSON document
in the shape of `threadlab bench --json`:

    {"experiment": ..., "mode": ..., "interval_ms": ..., "rows": [...],
     "interpreter": {"version": ..., "implementation": ..., "gil_enabled": ...}}

Standard library only; runs on Python 2.7 and 3.8+.

    python threadlab_bench.py throughput --threads 1,2,4 --seconds 1 [--interval 5]
    python threadlab_bench.py io --url http://127.0.0.1:PORT   # threadlab's server
    python threadlab_bench.py latency|convoy --threads 1,2

Throughput and io always measure 1 thread (the baseline of every speedup),
latency and convoy 0 CPU threads, whatever --threads says.

The CPU step is the same integer work as threadlab's emulated step (six
rounds of xorshift on a 64-bit word), so iterations/s are comparable.
"""
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time

try:  # Python 3
    from urllib.request import urlopen
except ImportError:  # Python 2
    from urllib2 import urlopen

MASK = (1 << 64) - 1


def cpu_step(x):
    """One step: six rounds of xorshift, like threadlab's cpu_step."""
    for _ in range(6):
        x ^= (x << 13) & MASK
        x ^= x >> 7
        x ^= (x << 17) & MASK
    return x


def gil_enabled():
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def interpreter():
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "gil_enabled": gil_enabled(),
        "executable": sys.executable,
    }


def mode_name():
    """Which emulation mode this interpreter corresponds to."""
    if sys.version_info[0] < 3:
        return "legacy"
    return "gil" if gil_enabled() else "free"


def set_interval(ms):
    if hasattr(sys, "setswitchinterval"):
        sys.setswitchinterval(ms / 1000.0)


def native_id():
    """This thread's OS thread id (3.8+), which `compare --trace` matches
    with the tracer's; None where Python cannot tell."""
    get = getattr(threading, "get_native_id", None)
    return get() if get else None


def tid_list(tids):
    """The measurement's thread ids, or None when unknown."""
    return None if None in tids else list(tids)


def run_threads(n, target, seconds):
    """Starts n threads running target(stop, out, i); returns (outs, wall,
    their native ids)."""
    stop = [False]
    outs = [None] * n
    tids = [None] * n

    def run(i):
        tids[i] = native_id()
        target(stop, outs, i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    start = time.time()
    for t in threads:
        t.daemon = True
        t.start()
    time.sleep(seconds)
    stop[0] = True
    for t in threads:
        t.join()
    return outs, time.time() - start, tid_list(tids)


def in_thread(body):
    """Runs body() on a fresh thread, so each measurement's I/O thread is its
    own OS thread; returns (its result, its native id)."""
    result = [None, None]
    errors = []

    def run():
        result[1] = native_id()
        try:
            result[0] = body()
        except BaseException as e:  # re-raised on the main thread
            errors.append(e)

    t = threading.Thread(target=run)
    t.daemon = True
    t.start()
    t.join()
    if errors:
        raise errors[0]
    return result[0], result[1]


def cpu_worker(stop, outs, i, tids=None):
    if tids is not None:
        tids[i] = native_id()
    x = 0x2545F4914F6CDD1D ^ i
    count = 0
    while not stop[0]:
        x = cpu_step(x)
        count += 1
    outs[i] = count


def thread_counts(args):
    """1 first -- the baseline every speedup divides by, always measured --
    then the requested counts."""
    counts = [1]
    for n in args["threads"]:
        if n > 0 and n not in counts:
            counts.append(n)
    return counts


def speedups(rows):
    """Each row's rate over the measured 1-thread row's."""
    base = [row["iterations_per_s"] for row in rows if row["threads"] == 1]
    for row in rows:
        if base and base[0] > 0:
            row["speedup"] = row["iterations_per_s"] / base[0]


def throughput(args):
    rows = []
    for n in thread_counts(args):
        outs, wall, tids = run_threads(n, cpu_worker, args["seconds"])
        rows.append({"threads": n, "iterations_per_s": sum(outs) / wall, "wall_s": wall,
                     "thread_ids": tids})
    speedups(rows)
    return rows


def io(args):
    url = args["url"].rstrip("/") + "/delay/10"

    def worker(stop, outs, i):
        waits = 0
        while not stop[0]:
            time.sleep(0.01)
            waits += 1
            urlopen(url, timeout=10).read()
            waits += 1
        outs[i] = waits

    rows = []
    for n in thread_counts(args):
        outs, wall, tids = run_threads(n, worker, args["seconds"])
        rows.append({"threads": n, "iterations_per_s": sum(outs) / wall, "wall_s": wall,
                     "thread_ids": tids})
    speedups(rows)
    return rows


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(q / 100.0 * len(values) + 0.5)) - 1))
    return values[k]


def cpu_counts(args):
    """0 first -- the measured thread alone -- then the requested counts."""
    counts = [0]
    for n in args["threads"]:
        if n > 0 and n not in counts:
            counts.append(n)
    return counts


def helper_process(role, port, extra):
    """Starts this script as a helper process outside this interpreter's GIL."""
    cmd = [sys.executable, os.path.abspath(__file__), "_" + role, str(port)] + [str(e) for e in extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE)


def start_cpu(n):
    stop = [False]
    outs = [None] * n
    tids = [None] * n
    threads = [threading.Thread(target=cpu_worker, args=(stop, outs, i, tids))
               for i in range(n)]
    for t in threads:
        t.daemon = True
        t.start()
    return stop, threads, tids


def stop_cpu(stop, threads):
    stop[0] = True
    for t in threads:
        t.join()


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data


def latency(args):
    """A responder thread here answers pings from a helper process."""
    every = min(0.1, args["seconds"] / 10.0)
    rows = []
    for n in cpu_counts(args):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        stop, threads, tids = start_cpu(n)
        pinger = helper_process("pinger", port, [every, args["seconds"]])
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.time()

        def respond():
            try:
                while True:
                    data = conn.recv(8)
                    if len(data) < 8:
                        break
                    cpu_step(7)  # handling the ping is Python work
                    conn.sendall(data)
            except socket.error:
                pass

        _, io_tid = in_thread(respond)
        out = pinger.communicate()[0]
        wall = time.time() - start
        stop_cpu(stop, threads)
        conn.close()
        listener.close()
        samples = json.loads(out.decode("utf-8"))
        rows.append({
            "cpu_threads": n,
            "latency_ms_p50": percentile(samples, 50),
            "latency_ms_p99": percentile(samples, 99),
            "wall_s": wall,
            "thread_ids": tid_list(tids + [io_tid]),
            "io_thread_id": io_tid,
        })
    return rows


def convoy(args):
    """Loopback round trips to an echo helper process beside N CPU threads."""
    rows = []
    for n in cpu_counts(args):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        echo = helper_process("echo", listener.getsockname()[1], [])
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stop, threads, tids = start_cpu(n)
        payload = b"x" * 64
        rtts = []
        start = time.time()

        def round_trips():
            while time.time() - start < args["seconds"]:
                sent = time.time()
                conn.sendall(payload)
                recv_exact(conn, 64)
                rtts.append((time.time() - sent) * 1000.0)

        _, io_tid = in_thread(round_trips)
        wall = time.time() - start
        stop_cpu(stop, threads)
        conn.close()
        echo.wait()
        listener.close()
        rows.append({
            "cpu_threads": n,
            "round_trips_per_s": len(rtts) / wall,
            "rtt_ms_p50": percentile(rtts, 50),
            "rtt_ms_p99": percentile(rtts, 99),
            "wall_s": wall,
            "thread_ids": tid_list(tids + [io_tid]),
            "io_thread_id": io_tid,
        })
    return rows


def pinger_main(port, every, seconds):
    sock = socket.create_connection(("127.0.0.1", int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    every, seconds = float(every), float(seconds)
    samples = []
    start = time.time()
    seq = 0
    while time.time() - start < seconds:
        seq += 1
        sent = time.time()
        sock.sendall(("%08d" % (seq % 10 ** 8)).encode("ascii"))
        recv_exact(sock, 8)
        samples.append((time.time() - sent) * 1000.0)
        pause = sent + every - time.time()
        if pause > 0:
            time.sleep(pause)
    sock.close()
    sys.stdout.write(json.dumps(samples))


def echo_main(port):
    sock = socket.create_connection(("127.0.0.1", int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        data = sock.recv(64)
        if not data:
            break
        sock.sendall(data)


EXPERIMENTS = {"throughput": throughput, "io": io, "latency": latency, "convoy": convoy}


def parse(argv):
    if not argv or argv[0] not in EXPERIMENTS:
        sys.stderr.write("usage: threadlab_bench.py {throughput,io,latency,convoy} "
                         "[--threads 1,2,4] [--seconds S] [--interval MS] [--url URL]\n")
        sys.exit(2)
    args = {"experiment": argv[0], "threads": [1, 2, 4], "seconds": 1.0,
            "interval": 5.0, "url": None}
    rest = argv[1:]
    while rest:
        flag = rest.pop(0)
        if not rest:
            sys.stderr.write("missing value for %s\n" % flag)
            sys.exit(2)
        value = rest.pop(0)
        if flag == "--threads":
            args["threads"] = [int(v) for v in value.split(",")]
        elif flag == "--seconds":
            args["seconds"] = float(value)
        elif flag == "--interval":
            args["interval"] = float(value)
        elif flag == "--url":
            args["url"] = value
        else:
            sys.stderr.write("unknown option %s\n" % flag)
            sys.exit(2)
    if args["experiment"] == "io" and not args["url"]:
        sys.stderr.write("io needs --url (threadlab's embedded server)\n")
        sys.exit(2)
    return args


def main(argv):
    if argv and argv[0] == "_pinger":
        return pinger_main(*argv[1:4])
    if argv and argv[0] == "_echo":
        return echo_main(argv[1])
    args = parse(argv)
    set_interval(args["interval"])
    rows = EXPERIMENTS[args["experiment"]](args)
    doc = {
        "experiment": args["experiment"],
        "mode": mode_name(),
        "interval_ms": args["interval"],
        "rows": rows,
        "interpreter": interpreter(),
    }
    sys.stdout.write(json.dumps(doc) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])

"""The probes' CPU cost per GIL release + re-take, robust to other load.

    sudo python3 benches/python/probe_cpu_cost.py PYTHON THREADLAB [THREADLAB...] [--rounds N]

A loop of 200,000 os.fstat calls (each drops and re-takes the GIL, as
assets/python/trace_rate.py) runs alone, then attached by each threadlab
binary given, interleaved, N rounds (default 5). Each run reports the
loop thread's own CPU time per call (schedstat): the uprobes' traps run on
that thread, so other load on the machine does not inflate it, where a
wall-clock rate swings 10x on a shared machine. The attach is in place
once the probes' breakpoints show in the loop's code (/proc/PID/mem), so
every call is traced. Python 3.8+ (threading.get_native_id); Linux; root.
"""
import subprocess, signal, sys, time
args = [a for a in sys.argv[1:]]
rounds = 5
if "--rounds" in args:
    i = args.index("--rounds"); rounds = int(args[i + 1]); del args[i:i + 2]
if len(args) < 2:
    sys.exit(__doc__)
P, BINS = args[0], args[1:]
LOOP = r'''
import os, sys, threading
fd = os.open(".", os.O_RDONLY)
print("ready", flush=True); sys.stdin.readline()
def ns(): return int(open("/proc/self/task/%d/schedstat" % threading.get_native_id()).read().split()[0])
c0 = ns()
for _ in range(200000): os.fstat(fd)
print("%.3f" % ((ns() - c0) / 1000.0 / 200000), flush=True)
'''
def planted(pid):
    """Bytes of the process's executable python mappings that differ from their files."""
    n = 0
    for line in open("/proc/%d/maps" % pid):
        f = line.split()
        if len(f) >= 6 and "x" in f[1] and f[5].startswith("/") and "python" in f[5]:
            LIB = f[5]
            s, e = (int(x, 16) for x in f[0].split("-"))
            with open(LIB, "rb") as src, open("/proc/%d/mem" % pid, "rb", 0) as mem:
                src.seek(int(f[2], 16)); want = src.read(e - s); mem.seek(s); have = mem.read(len(want))
            n += sum(1 for a, b in zip(have, want) if a != b)
    return n
def once(bin_):
    p = subprocess.Popen([P, "-c", LOOP], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    p.stdout.readline()
    t = None
    if bin_:
        t = subprocess.Popen([bin_, "attach", str(p.pid), "--json"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while planted(p.pid) == 0: time.sleep(0.01)
    p.stdin.write("go\n"); p.stdin.flush()
    us = float(p.stdout.readline())
    if t: t.send_signal(signal.SIGINT); t.wait()
    p.wait()
    return us
rows = []
for r in range(rounds):
    row = [once(None)] + [once(b) for b in BINS]
    rows.append(row)
    print("round %d: alone %.2f µs/call, " % (r + 1, row[0]) + ", ".join("%s %.2f" % (b, us) for b, us in zip(BINS, row[1:])), flush=True)
med = lambda xs: sorted(xs)[len(xs) // 2]
meds = [med([r[i] for r in rows]) for i in range(len(BINS) + 1)]
print("medians: alone %.2f µs/call; " % meds[0] + "; ".join("%s %.2f (probes %.2f µs per release+retake)" % (b, m, m - meds[0]) for b, m in zip(BINS, meds[1:])))

"""A light Textual app, the second real Python TUI that `benches/ui_gil.rs`
measures beside threadlab's emulated "UI under the GIL" (the `light`
preset of `--ui-python-ms`).

    python textual_light.py [--threads N] [--fps F]

One `Static` of a few lines, refreshed F times a second (default 10): a key
counter ("keys pressed NNNNNN", which the bench waits for on the screen),
the CPU threads' iterations and rate, and the uptime. Every `j` bumps the
counter and updates the same `Static` at once. N threads (default 0) run
the same pure-Python CPU-bound loop as `textual_dashboard.py`, so the two
apps differ only in what the UI itself does per refresh and per key: here
one widget's few lines, there a 30-row `DataTable`. `q` quits.
"""
import argparse
import threading
import time

from textual.app import App, ComposeResult
from textual.widgets import Static

COUNTS = []  # iterations per CPU thread, written by that thread only
STOP = threading.Event()


def cpu_loop(index):
    """Pure-Python integer work: the GIL is released only when forced."""
    x = index + 1
    n = 0
    while not STOP.is_set():
        for _ in range(10000):
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        n += 10000
        COUNTS[index] = n


class Light(App):
    """One Static: a key counter and a few lines refreshed on a timer."""

    BINDINGS = [("j", "key", "count a key"), ("q", "quit", "quit")]

    def __init__(self, threads, fps):
        super().__init__()
        self.threads = threads
        self.fps = fps
        self.keys = 0
        self.started = time.monotonic()
        self.last = [0] * threads
        self.rates = [0] * threads

    def compose(self) -> ComposeResult:
        yield Static(self.text(), id="status")

    def text(self):
        lines = ["keys pressed %06d · %d cpu threads" % (self.keys, self.threads)]
        for i in range(self.threads):
            lines.append("cpu %d: %d iterations, %d/s" % (i, COUNTS[i], self.rates[i]))
        lines.append("uptime %.1f s" % (time.monotonic() - self.started))
        return "\n".join(lines)

    def on_mount(self):
        self.set_interval(1.0 / self.fps, self.tick)

    def tick(self):
        for i in range(self.threads):
            done = COUNTS[i]
            self.rates[i] = int((done - self.last[i]) * self.fps)
            self.last[i] = done
        self.query_one("#status", Static).update(self.text())

    def action_key(self):
        self.keys += 1
        self.query_one("#status", Static).update(self.text())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--fps", type=float, default=10.0)
    args = parser.parse_args()
    COUNTS.extend([0] * args.threads)
    workers = [
        threading.Thread(target=cpu_loop, args=(i,), daemon=True)
        for i in range(args.threads)
    ]
    for worker in workers:
        worker.start()
    try:
        Light(args.threads, args.fps).run()
    finally:
        STOP.set()


if __name__ == "__main__":
    main()

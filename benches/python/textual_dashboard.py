"""A small Textual dashboard, the real Python TUI that `benches/ui_gil.rs`
measures beside threadlab's emulated "UI under the GIL".

    python textual_dashboard.py [--threads N] [--rows R] [--fps F]

It shows a table of the CPU threads (iterations, rate) plus filler rows
refreshed F times a second, and a key counter: every `j` moves the table's
cursor and bumps "keys pressed NNNNNN", which the bench waits for on the
screen. N threads (default 0) run pure-Python CPU-bound loops, an LCG step
per iteration, so they compete with the UI for the GIL exactly as a worker
pool beside a Python TUI does. `q` quits.
"""
import argparse
import threading
import time

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Static

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


class Dashboard(App):
    """A table refreshed on a timer and a key counter."""

    CSS = """
    #keys { height: 1; }
    DataTable { height: 1fr; }
    """
    BINDINGS = [("j", "key", "count a key"), ("q", "quit", "quit")]

    def __init__(self, threads, rows, fps):
        super().__init__()
        self.threads = threads
        self.rows = rows
        self.fps = fps
        self.keys = 0
        self.started = time.monotonic()
        self.last = [0] * threads

    def compose(self) -> ComposeResult:
        yield Static(self.counter(), id="keys")
        yield DataTable(id="table")

    def counter(self):
        return "keys pressed %06d · %d cpu threads" % (self.keys, self.threads)

    def on_mount(self):
        table = self.query_one(DataTable)
        for label in ("row", "kind", "iterations", "per second", "uptime s"):
            table.add_column(label, key=label)
        for i in range(self.rows):
            kind = "cpu" if i < self.threads else "idle"
            table.add_row(str(i), kind, "0", "0", "0.0", key=str(i))
        self.set_interval(1.0 / self.fps, self.tick)

    def tick(self):
        table = self.query_one(DataTable)
        uptime = "%.1f" % (time.monotonic() - self.started)
        for i in range(self.rows):
            done = COUNTS[i] if i < self.threads else 0
            rate = int((done - self.last[i]) * self.fps) if i < self.threads else 0
            if i < self.threads:
                self.last[i] = done
            table.update_cell(str(i), "iterations", str(done))
            table.update_cell(str(i), "per second", str(rate))
            table.update_cell(str(i), "uptime s", uptime)

    def action_key(self):
        self.keys += 1
        table = self.query_one(DataTable)
        table.move_cursor(row=self.keys % self.rows)
        self.query_one("#keys", Static).update(self.counter())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--rows", type=int, default=30)
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
        Dashboard(args.threads, max(args.rows, args.threads), args.fps).run()
    finally:
        STOP.set()


if __name__ == "__main__":
    main()

//! `/proc` readers: memory, threads, CPU ticks and scheduler waits of a
//! process, the machine's busy and steal time, interference from other
//! work, and waiting for a quiet machine.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// A `kB` field of `/proc/PID/status` (`VmHWM`, `VmRSS`), in KiB.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Threads of process `pid` now.
pub fn thread_count(pid: u32) -> Option<u64> {
    status_kib(pid, "Threads")
}

/// `utime + stime` of process `pid` (all its threads, live and gone), in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid …": fields after the closing parenthesis, from field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime is field 14 and stime field 15 (1-based) → 11 and 12 here.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Like [`cpu_ticks`], plus the CPU time of its children that were waited
/// for (`cutime + cstime`: the tools a benchmark runs, such as curl or dd).
pub fn cpu_ticks_with_children(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let sum: Option<u64> = (11..=14).map(|i| fields.get(i)?.parse::<u64>().ok()).sum();
    sum
}

/// Scheduler figures of the threads of `pid` named `name` (summed):
/// `(on-CPU ns, runqueue-wait ns, timeslices)` from `/proc/PID/task/TID/schedstat`.
pub fn sched_stats(pid: u32, name: &str) -> Option<(u64, u64, u64)> {
    let mut total = (0, 0, 0);
    let mut found = false;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        let v: Vec<u64> = stat
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        if let [run, wait, slices] = v[..] {
            total = (total.0 + run, total.1 + wait, total.2 + slices);
            found = true;
        }
    }
    found.then_some(total)
}

/// Busy clock ticks of the whole machine (all CPUs), from `/proc/stat`.
pub fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|w| w.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is in user).
    Some(v.iter().take(8).sum::<u64>() - v.get(3)? - v.get(4)?)
}

/// Ticks the hypervisor took from this VM's CPUs (`steal` in `/proc/stat`):
/// time in which nothing here, the UI included, could run.
pub fn machine_steal_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().next()?.split_whitespace().nth(8)?.parse().ok()
}

/// Watches how much CPU processes other than ours used during a measurement,
/// so a run disturbed by something else on the machine can be told apart.
pub struct Interference {
    machine: u64,
    steal: u64,
    ours: u64,
    pids: Vec<u32>,
    started: Instant,
}

impl Interference {
    /// Starts watching; `pids` are our processes (this one is added).
    pub fn start(pids: &[u32]) -> Self {
        let pids = pids.to_vec();
        let ours = Self::ours(&pids);
        Self {
            machine: machine_busy_ticks().unwrap_or(0),
            steal: machine_steal_ticks().unwrap_or(0),
            ours,
            pids,
            started: Instant::now(),
        }
    }

    fn ours(pids: &[u32]) -> u64 {
        pids.iter().filter_map(|&p| cpu_ticks(p)).sum::<u64>()
            + cpu_ticks_with_children(std::process::id()).unwrap_or(0)
    }

    /// Average cores used by our processes (`pids`, this one and its
    /// waited-for children) since the start.
    pub fn our_cores(&self) -> f64 {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        Self::ours(&self.pids).saturating_sub(self.ours) as f64 / clock_ticks_per_s() as f64 / secs
    }

    /// CPU time (ms, summed over the CPUs) the hypervisor took since the start.
    pub fn steal_ms(&self) -> f64 {
        let stolen = machine_steal_ticks()
            .unwrap_or(0)
            .saturating_sub(self.steal);
        stolen as f64 * 1000.0 / clock_ticks_per_s() as f64
    }

    /// Average cores used by everything else since the start (0.0 = quiet):
    /// other processes and kernel threads (writeback included).
    pub fn foreign_cores(&self) -> f64 {
        let ours = Self::ours(&self.pids);
        let machine = machine_busy_ticks().unwrap_or(0);
        let foreign =
            machine.saturating_sub(self.machine) as f64 - ours.saturating_sub(self.ours) as f64;
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        (foreign / clock_ticks_per_s() as f64 / secs).max(0.0)
    }
}

/// Waits (up to `patience`) until the machine has been quiet — under
/// [`DISTURBED_CORES`] busy — for two consecutive half-second windows, so a
/// measurement does not start on top of someone else's build or test run.
/// Returns false if it never got quiet.
pub fn wait_quiet(patience: Duration) -> bool {
    wait_below(patience, DISTURBED_CORES, Duration::from_millis(500))
}

/// Waits (up to `patience`) until the machine's cores were less than
/// `cores` busy for two consecutive `window`s; says so once on stdout if
/// it had to wait, and if it never got quiet (then returns false).
pub fn wait_below(patience: Duration, cores: f64, window: Duration) -> bool {
    let deadline = Instant::now() + patience;
    let ticks = clock_ticks_per_s() as f64;
    let mut quiet_windows = 0;
    let mut warned = false;
    while Instant::now() < deadline {
        let before = machine_busy_ticks().unwrap_or(0);
        thread::sleep(window);
        let busy = machine_busy_ticks().unwrap_or(0).saturating_sub(before) as f64
            / ticks
            / window.as_secs_f64();
        if busy < cores {
            quiet_windows += 1;
            if quiet_windows == 2 {
                return true;
            }
        } else {
            quiet_windows = 0;
            if !warned {
                println!("(waiting for the machine to be quiet: {busy:.2} cores busy)");
                warned = true;
            }
        }
    }
    println!("warning: the machine did not get quiet within {patience:?}; measuring anyway");
    false
}

/// Above this many cores used by other processes, a run counts as disturbed.
pub const DISTURBED_CORES: f64 = 0.15;

/// The mark a run's line gets when other processes used more than
/// [`DISTURBED_CORES`] during it (empty otherwise).
pub fn disturbed_mark(foreign: f64) -> &'static str {
    if foreign > DISTURBED_CORES {
        " ⚠ DISTURBED"
    } else {
        ""
    }
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux).
pub fn clock_ticks_per_s() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

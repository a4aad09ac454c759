//! What a sampled trace sees of each Python thread at one instant
//! ([`Observed`]): the interpreter's GIL holder (py-spy's `owns_gil`), and
//! for every other thread what the kernel says it is doing.
//!
//! A thread waiting for the GIL sleeps in the kernel like one blocked on a
//! socket or a `threading.Lock`. They are told apart by where it sleeps:
//! CPython's GIL is a condition variable and mutex in the interpreter's
//! static data (`_PyRuntime` in 3.7–3.11, the main interpreter's `_gil`
//! inside `_PyRuntime` from 3.12, file-static in 3.6), so a thread in
//! `futex` on an address in the interpreter's writable mappings waits for
//! the GIL; `threading` locks are allocated on the heap and never are.
//! Python 2's GIL is itself a heap-allocated lock like `threading.Lock`:
//! there the GIL's address is learnt from the threads that lose it: the
//! address a thread sleeps on right after a sample saw it hold the GIL,
//! while another holds it now, is most often the GIL's (a forced switch),
//! and the address seen so most often is taken for it.

use std::collections::HashMap;
use std::path::PathBuf;

use super::stacks::ThreadStack;

/// One thread's state as one sample saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// The interpreter names it the GIL holder.
    Holds,
    /// Asleep on the GIL's condition variable or mutex.
    WaitsForGil,
    /// On a CPU (running or runnable) without the GIL: native code, or
    /// just woken to take it.
    Native,
    /// Asleep on anything else: I/O, a sleep, a lock.
    Blocked,
}

/// Reads the kernel's side of a sampled process's threads.
#[derive(Debug)]
pub(crate) struct Observer {
    pid: u32,
    /// Address ranges of the interpreter's writable static data.
    gil_ranges: Vec<(u64, u64)>,
    /// Python 2: the GIL lives on the heap; its address is learnt.
    learn: bool,
    /// Python 2: how often each address was slept on by a thread the last
    /// round saw holding the GIL, while another held it.
    losers_slept_on: HashMap<u64, u32>,
    /// The holder in the last round.
    last_holder: Option<u32>,
}

impl Observer {
    /// An observer of process `pid`, running Python `version` (`2.7.18`).
    pub(crate) fn new(pid: u32, version: &str) -> Observer {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
        Observer {
            pid,
            gil_ranges: static_data(&maps, exe.as_ref()),
            learn: version.starts_with("2."),
            losers_slept_on: HashMap::new(),
            last_holder: None,
        }
    }

    /// Whether a thread asleep on `addr` waits for the GIL.
    fn is_gil(&self, addr: u64) -> bool {
        if self.learn {
            let best = self.losers_slept_on.iter().max_by_key(|&(_, n)| *n);
            return best.is_some_and(|(&gil, _)| gil == addr);
        }
        self.gil_ranges.iter().any(|&(a, b)| (a..b).contains(&addr))
    }

    /// What every thread of `stacks` (one round) was doing.
    pub(crate) fn observe(&mut self, stacks: &[ThreadStack]) -> Vec<(u32, Observed)> {
        let holder = stacks.iter().find(|s| s.owns_gil).and_then(|s| s.tid);
        let loser = self.last_holder.filter(|&t| holder.is_some_and(|h| h != t));
        self.last_holder = holder;
        let mut learnt = None;
        let seen = stacks
            .iter()
            .filter_map(|s| {
                let tid = s.tid?;
                if s.owns_gil {
                    return Some((tid, Observed::Holds));
                }
                let stat = std::fs::read(format!("/proc/{}/task/{tid}/stat", self.pid)).ok()?;
                let state = stat
                    .iter()
                    .rposition(|&b| b == b')')
                    .and_then(|i| stat.get(i + 2))
                    .copied()?;
                if state == b'R' {
                    return Some((tid, Observed::Native));
                }
                let syscall =
                    std::fs::read_to_string(format!("/proc/{}/task/{tid}/syscall", self.pid))
                        .unwrap_or_default();
                let slept_on = futex_address(&syscall);
                if self.learn && loser == Some(tid) {
                    learnt = slept_on;
                }
                let on_gil = slept_on.is_some_and(|addr| self.is_gil(addr));
                Some((
                    tid,
                    if on_gil {
                        Observed::WaitsForGil
                    } else {
                        Observed::Blocked
                    },
                ))
            })
            .collect();
        if let Some(addr) = learnt {
            *self.losers_slept_on.entry(addr).or_default() += 1;
        }
        seen
    }
}

/// The address a thread sleeps on, if `/proc/…/syscall` shows it in `futex`.
fn futex_address(syscall: &str) -> Option<u64> {
    let mut fields = syscall.split_whitespace();
    let number: i64 = fields.next()?.parse().ok()?;
    if number != libc::SYS_futex {
        return None;
    }
    u64::from_str_radix(fields.next()?.trim_start_matches("0x"), 16).ok()
}

/// The writable mappings of the interpreter's files (`libpython*`, or the
/// executable itself for a static build) and the anonymous mapping right
/// after each (the rest of its `.bss`).
fn static_data(maps: &str, exe: Option<&PathBuf>) -> Vec<(u64, u64)> {
    let mut ranges = Vec::new();
    let mut last_end = None;
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let path = fields.nth(3);
        let Some((start, end)) = range.split_once('-').and_then(|(a, b)| {
            Some((
                u64::from_str_radix(a, 16).ok()?,
                u64::from_str_radix(b, 16).ok()?,
            ))
        }) else {
            continue;
        };
        let writable = perms.starts_with("rw");
        let python_file = path.is_some_and(|p| {
            exe.is_some_and(|e| e.as_os_str() == p)
                || p.rsplit('/')
                    .next()
                    .is_some_and(|n| n.starts_with("libpython"))
        });
        if writable && python_file {
            ranges.push((start, end));
            last_end = Some(end);
        } else if writable && path.is_none() && last_end == Some(start) {
            ranges.push((start, end));
            last_end = None;
        } else {
            last_end = None;
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interpreter_s_data_and_bss_are_found_in_maps() {
        let maps = "\
55d000000000-55d000001000 r--p 00000000 08:01 10 /usr/bin/python3.11
55d000100000-55d000200000 rw-p 00100000 08:01 10 /usr/bin/python3.11
55d000200000-55d000240000 rw-p 00000000 00:00 0
55d000300000-55d000400000 rw-p 00000000 00:00 0 [heap]
7f0000000000-7f0000010000 rw-p 00000000 08:01 11 /lib/libpython3.12.so.1.0
7f0000020000-7f0000030000 rw-p 00000000 08:01 12 /lib/libc.so.6
";
        let exe = PathBuf::from("/usr/bin/python3.11");
        assert_eq!(
            static_data(maps, Some(&exe)),
            vec![
                (0x55d000100000, 0x55d000200000),
                (0x55d000200000, 0x55d000240000),
                (0x7f0000000000, 0x7f0000010000),
            ]
        );
    }

    #[test]
    fn a_futex_sleep_names_its_address() {
        let futex = format!("{} 0x7f00000000a8 0x189 0x0 0x0", libc::SYS_futex);
        assert_eq!(futex_address(&futex), Some(0x7f00000000a8));
        assert_eq!(futex_address("running"), None);
        assert_eq!(futex_address("0 0x3 0x7ff 0x1000"), None);
    }
}

//! Uprobes on `take_gil`/`drop_gil` through `perf_event_open`, and the ring
//! buffers their records land in.
//!
//! One event per probe per CPU, `pid = -1`: the kernel fires it in every
//! thread of every process that maps the file, including threads born
//! later, and the reader keeps the traced process's records. All events of
//! one CPU write into that CPU's single ring (`PERF_EVENT_IOC_SET_OUTPUT`),
//! so one thread reads `ncpu` rings.
//!
//! Why not per-thread events with `inherit`, which would spare other
//! programs of the same interpreter: the uprobe PMU reads the file's path
//! from `config1`, a pointer into *our* memory, again for every inherited
//! event — in the traced thread's `clone`, where that pointer means nothing —
//! so the program's next `Thread.start()` fails ("can't start new thread";
//! tried here on 6.18). The probes exist only as long as these
//! file descriptors: nothing is written to tracefs, so nothing outlives
//! threadlab, whatever kills it.
//!
//! Why `perf-event-open-sys`: it is the kernel's own `perf_event_attr` and
//! ioctl numbers, nothing more; the uprobe PMU is a *dynamic* PMU (its type
//! number is read from sysfs), which the higher-level crates do not model.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use perf_event_open_sys as sys;

use super::TraceError;

/// Which probe a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeKind {
    /// `take_gil` entry: the thread starts waiting.
    TakeEntry,
    /// `take_gil` return: the thread holds the GIL.
    TakeReturn,
    /// `drop_gil` entry: the thread releases it (and, after a forced
    /// drop, waits in it until another thread has taken it).
    DropEntry,
    /// `drop_gil` return: released, the thread runs on without it.
    DropReturn,
}

/// One probe hit, as read from a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProbeHit {
    /// `CLOCK_MONOTONIC` nanoseconds.
    pub time_ns: u64,
    /// Process id.
    pub(crate) pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Which probe.
    pub kind: ProbeKind,
}

/// Pages of ring data per CPU (plus one header page): 1 MiB holds some
/// 30,000 records, tens of milliseconds of the busiest GIL traffic.
const RING_PAGES: usize = 256;

/// The open probes and their per-CPU rings; dropping it removes them.
#[derive(Debug)]
pub(crate) struct Probes {
    rings: Vec<Ring>,
    /// Every event fd; the kernel's probes live exactly as long as these.
    _fds: Vec<OwnedFd>,
    ids: Vec<(u64, ProbeKind)>,
    lost: u64,
}

impl Probes {
    /// Opens entry and return probes on `take_gil` and `drop_gil` at the
    /// given file offsets of `file`, on every CPU.
    pub(crate) fn open(
        file: &Path,
        take_gil: &[u64],
        drop_gil: &[u64],
    ) -> Result<Probes, TraceError> {
        let pmu = read_sysfs_number("/sys/bus/event_source/devices/uprobe/type")
            .ok_or(TraceError::NoUprobes)? as u32;
        let retprobe_bit = retprobe_bit().ok_or(TraceError::NoUprobes)?;
        let path = CString::new(file.as_os_str().as_bytes()).map_err(|_| TraceError::Read {
            path: file.to_path_buf(),
            source: std::io::Error::other("path holds a NUL byte"),
        })?;
        let mut probes: Vec<(u64, ProbeKind)> = Vec::new();
        for &offset in take_gil {
            probes.push((offset, ProbeKind::TakeEntry));
            probes.push((offset, ProbeKind::TakeReturn));
        }
        for &offset in drop_gil {
            probes.push((offset, ProbeKind::DropEntry));
            probes.push((offset, ProbeKind::DropReturn));
        }
        let page = page_size();
        let mut fds = Vec::new();
        let mut rings = Vec::new();
        let mut ids = Vec::new();
        for cpu in online_cpus() {
            let mut leader: Option<i32> = None;
            for &(offset, kind) in &probes {
                let config = if matches!(kind, ProbeKind::TakeReturn | ProbeKind::DropReturn) {
                    1u64 << retprobe_bit
                } else {
                    0
                };
                let fd = open_uprobe(pmu, config, &path, offset, cpu)?;
                let raw = fd.as_raw_fd();
                let mut id = 0u64;
                // SAFETY: `raw` is an open perf event fd; ID writes one u64.
                if unsafe { sys::ioctls::ID(raw, &mut id) } < 0 {
                    return Err(TraceError::Probe(std::io::Error::last_os_error()));
                }
                ids.push((id, kind));
                match leader {
                    None => {
                        rings.push(Ring::map(raw, page)?);
                        leader = Some(raw);
                    }
                    Some(leader) => {
                        // SAFETY: both are perf event fds on the same CPU.
                        if unsafe { sys::ioctls::SET_OUTPUT(raw, leader) } < 0 {
                            return Err(TraceError::Probe(std::io::Error::last_os_error()));
                        }
                    }
                }
                fds.push(fd);
            }
        }
        for fd in &fds {
            // SAFETY: an open perf event fd; ENABLE takes no pointer.
            if unsafe { sys::ioctls::ENABLE(fd.as_raw_fd(), 0) } < 0 {
                return Err(TraceError::Probe(std::io::Error::last_os_error()));
            }
        }
        Ok(Probes {
            rings,
            _fds: fds,
            ids,
            lost: 0,
        })
    }

    /// Appends every record now in the rings to `out` (unordered across
    /// CPUs) and frees their space. Never blocks.
    pub(crate) fn drain(&mut self, out: &mut Vec<ProbeHit>) {
        let ids = &self.ids;
        let mut lost = 0;
        for ring in &mut self.rings {
            ring.drain(|record| match record {
                Record::Sample {
                    id,
                    pid,
                    tid,
                    time_ns,
                } => {
                    if let Some(&(_, kind)) = ids.iter().find(|(i, _)| *i == id) {
                        out.push(ProbeHit {
                            time_ns,
                            pid,
                            tid,
                            kind,
                        });
                    }
                }
                Record::Lost(n) => lost += n,
            });
        }
        self.lost += lost;
    }

    /// Records the kernel dropped because a ring was full (`PERF_RECORD_LOST`).
    pub(crate) fn lost(&self) -> u64 {
        self.lost
    }
}

fn open_uprobe(
    pmu: u32,
    config: u64,
    path: &CString,
    offset: u64,
    cpu: i32,
) -> Result<OwnedFd, TraceError> {
    let mut attr = sys::bindings::perf_event_attr {
        type_: pmu,
        size: std::mem::size_of::<sys::bindings::perf_event_attr>() as u32,
        config,
        sample_type: (sys::bindings::PERF_SAMPLE_IDENTIFIER
            | sys::bindings::PERF_SAMPLE_TID
            | sys::bindings::PERF_SAMPLE_TIME) as u64,
        clockid: libc::CLOCK_MONOTONIC,
        ..Default::default()
    };
    attr.sample_period = 1;
    attr.config1 = path.as_ptr() as u64;
    attr.config2 = offset;
    attr.set_disabled(1);
    attr.set_use_clockid(1);
    // SAFETY: `attr` is fully initialised and `path` outlives the call.
    let fd = unsafe {
        sys::perf_event_open(
            &mut attr,
            -1,
            cpu,
            -1,
            sys::bindings::PERF_FLAG_FD_CLOEXEC as libc::c_ulong,
        )
    };
    if fd < 0 {
        let error = std::io::Error::last_os_error();
        return Err(match error.raw_os_error() {
            Some(libc::EACCES | libc::EPERM) => TraceError::NotPermitted,
            _ => TraceError::Probe(error),
        });
    }
    // SAFETY: perf_event_open returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// True when this kernel has the uprobe PMU.
pub(crate) fn uprobes_available() -> bool {
    read_sysfs_number("/sys/bus/event_source/devices/uprobe/type").is_some()
}

fn read_sysfs_number(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The bit of `config` that makes a uprobe a return probe (`config:0`).
fn retprobe_bit() -> Option<u32> {
    let format =
        std::fs::read_to_string("/sys/bus/event_source/devices/uprobe/format/retprobe").ok()?;
    format.trim().strip_prefix("config:")?.parse().ok()
}

/// The CPUs to open an event on (`/sys/devices/system/cpu/online`, e.g. `0-3,6`).
fn online_cpus() -> Vec<i32> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let mut ends = part.splitn(2, '-').map(|n| n.parse::<i32>());
        match (ends.next(), ends.next()) {
            (Some(Ok(a)), Some(Ok(b))) => cpus.extend(a..=b),
            (Some(Ok(a)), None) => cpus.push(a),
            _ => {}
        }
    }
    if cpus.is_empty() {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        cpus.extend(0..n as i32);
    }
    cpus
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

/// A record of interest in a ring.
enum Record {
    Sample {
        id: u64,
        pid: u32,
        tid: u32,
        time_ns: u64,
    },
    Lost(u64),
}

/// One CPU's mmap'd ring buffer.
#[derive(Debug)]
struct Ring {
    base: *mut u8,
    len: usize,
    data_offset: usize,
    data_size: usize,
    scratch: Vec<u8>,
}

// SAFETY: the mapping is owned by this value alone and only read or written
// through `&mut self`.
unsafe impl Send for Ring {}

impl Ring {
    fn map(fd: i32, page: usize) -> Result<Ring, TraceError> {
        let len = page * (1 + RING_PAGES);
        // SAFETY: a fresh shared mapping of a perf fd; checked for MAP_FAILED.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(TraceError::Probe(std::io::Error::last_os_error()));
        }
        Ok(Ring {
            base: base.cast(),
            len,
            data_offset: page,
            data_size: page * RING_PAGES,
            scratch: Vec::new(),
        })
    }

    fn header(&self) -> *mut sys::bindings::perf_event_mmap_page {
        self.base.cast()
    }

    fn drain(&mut self, mut each: impl FnMut(Record)) {
        let header = self.header();
        // SAFETY: the header page is mapped for the life of `self`; the
        // kernel publishes data_head and we publish data_tail, both u64
        // words accessed atomically (release/acquire as perf requires).
        let (head_word, tail_word) = unsafe {
            (
                &*(std::ptr::addr_of_mut!((*header).data_head) as *const AtomicU64),
                &*(std::ptr::addr_of_mut!((*header).data_tail) as *const AtomicU64),
            )
        };
        let head = head_word.load(Ordering::Acquire);
        let mut tail = tail_word.load(Ordering::Relaxed);
        while tail < head {
            let mut header_bytes = [0u8; 8];
            self.copy_out(tail, &mut header_bytes);
            let kind = u32::from_ne_bytes(header_bytes[0..4].try_into().expect("4 bytes"));
            let size = u16::from_ne_bytes(header_bytes[6..8].try_into().expect("2 bytes")) as u64;
            if size < 8 || tail + size > head {
                break;
            }
            let mut body = std::mem::take(&mut self.scratch);
            body.resize(size as usize - 8, 0);
            self.copy_out(tail + 8, &mut body);
            let word = |i: usize| {
                body.get(i * 8..i * 8 + 8)
                    .map(|b| u64::from_ne_bytes(b.try_into().expect("8 bytes")))
            };
            match kind {
                sys::bindings::PERF_RECORD_SAMPLE => {
                    // IDENTIFIER, then TID (pid u32, tid u32), then TIME.
                    if let (Some(id), Some(ids), Some(time_ns)) = (word(0), word(1), word(2)) {
                        each(Record::Sample {
                            id,
                            pid: ids as u32,
                            tid: (ids >> 32) as u32,
                            time_ns,
                        });
                    }
                }
                sys::bindings::PERF_RECORD_LOST => {
                    if let Some(n) = word(1) {
                        each(Record::Lost(n));
                    }
                }
                _ => {}
            }
            self.scratch = body;
            tail += size;
        }
        tail_word.store(tail, Ordering::Release);
    }

    /// Copies `out.len()` bytes starting at ring position `at`, across the wrap.
    fn copy_out(&self, at: u64, out: &mut [u8]) {
        let start = (at % self.data_size as u64) as usize;
        let first = out.len().min(self.data_size - start);
        // SAFETY: both ranges lie inside the data area of the mapping.
        unsafe {
            let data = self.base.add(self.data_offset);
            std::ptr::copy_nonoverlapping(data.add(start), out.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(data, out.as_mut_ptr().add(first), out.len() - first);
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `map` mapped.
        unsafe {
            libc::munmap(self.base.cast(), self.len);
        }
    }
}

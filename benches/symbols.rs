//! How long finding `take_gil`/`drop_gil` takes before a trace starts, per
//! way: the symbol table (pyenv's 3.11), disassembly (a stripped copy of
//! it, and Debian's stripped `/usr/bin/python3.11`) and MiniDebugInfo (a
//! stripped copy of pyenv's 3.11 with `.gnu_debugdata` added the way
//! Fedora's `find-debuginfo` adds it). Each lookup reads the file from the
//! page cache and parses it from scratch, as a trace does; 20 lookups each
//! (`THREADLAB_BENCH_RUNS`), interleaved, median and max of wall time and
//! of this thread's CPU time (CPU time is what the noise of other builds
//! on the machine leaves alone).
//!
//! Budget: median ≤ 250 ms wall for any way (a trace's start-up).
//!
//! Run: `cargo bench --bench symbols`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use threadlab::trace::symbols::{SymbolSource, locate};

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-parameter.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn sh(script: &str, args: &[&Path]) {
    let out = Command::new("sh")
        .args(["-c", script, "sh"])
        .args(args)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// (label, file, expected way) for what this machine has.
fn cases(dir: &Path) -> Vec<(String, PathBuf, SymbolSource)> {
    let mut cases = Vec::new();
    if let Some(python) = common::pyenv_python("3.11") {
        let lib = python
            .parent()
            .and_then(Path::parent)
            .map(|p| p.join("lib/libpython3.11.so.1.0"))
            .filter(|p| p.is_file());
        if let Some(lib) = lib {
            let stripped = dir.join("stripped.so");
            let mini = dir.join("mini.so");
            sh(
                r#"set -e
strip --strip-all -o "$2" "$1"
cp "$2" "$3"
cd "$4"
nm -D "$1" --format=posix --defined-only | awk '{ print $1 }' | sort > dynsyms
nm "$1" --format=posix --defined-only | awk '{ if ($2 == "T" || $2 == "t" || $2 == "D") print $1 }' | sort > funcsyms
comm -13 dynsyms funcsyms > keep_symbols
objcopy --only-keep-debug "$1" full.debug
objcopy -S --remove-section .gdb_index --remove-section .comment --keep-symbols=keep_symbols full.debug mini_debuginfo
xz mini_debuginfo
objcopy --add-section .gnu_debugdata=mini_debuginfo.xz "$3"
"#,
                &[&lib, &stripped, &mini, dir],
            );
            cases.push((
                "pyenv 3.11 libpython, symtab".into(),
                lib,
                SymbolSource::Symtab,
            ));
            cases.push((
                "pyenv 3.11 libpython stripped, disassembly".into(),
                stripped,
                SymbolSource::Disassembly,
            ));
            cases.push((
                "pyenv 3.11 libpython stripped + .gnu_debugdata, minidebuginfo".into(),
                mini,
                SymbolSource::Minidebuginfo,
            ));
        }
    }
    let debian = PathBuf::from("/usr/bin/python3.11");
    if debian.is_file() {
        cases.push((
            "Debian /usr/bin/python3.11 (stripped), disassembly".into(),
            debian,
            SymbolSource::Disassembly,
        ));
    }
    cases
}

fn main() {
    if !common::should_run("symbols") {
        return;
    }
    println!("{}", common::machine_line());
    // SAFETY: before any thread is started; the lookups must not reach a
    // server or a debug package someone installed: the ways under test only.
    unsafe { std::env::remove_var("DEBUGINFOD_URLS") };
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = cases(dir.path());
    if cases.is_empty() {
        println!("symbols: nothing to measure (no pyenv 3.11, no /usr/bin/python3.11)");
        return;
    }
    let runs = common::runs(20);
    let mut wall = vec![Vec::new(); cases.len()];
    let mut cpu = vec![Vec::new(); cases.len()];
    for _ in 0..runs {
        for (i, (label, path, expected)) in cases.iter().enumerate() {
            let (started, cpu_started) = (Instant::now(), thread_cpu());
            let found = locate(path);
            cpu[i].push(thread_cpu() - cpu_started);
            wall[i].push(started.elapsed());
            let (source, _, _) = found.unwrap_or_else(|why| panic!("{label}: {why}"));
            assert_eq!(source, *expected, "{label}");
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        (v[v.len() / 2], v[v.len() - 1])
    };
    println!(
        "{:<66} {:>16} {:>16}",
        "lookup", "wall med/max ms", "cpu med/max ms"
    );
    let mut worst = Duration::ZERO;
    for (i, (label, _, _)) in cases.iter().enumerate() {
        let (w50, wmax) = median(&mut wall[i]);
        let (c50, cmax) = median(&mut cpu[i]);
        worst = worst.max(w50);
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{label:<66} {:>16} {:>16}",
            format!("{:.1}/{:.1}", ms(w50), ms(wmax)),
            format!("{:.1}/{:.1}", ms(c50), ms(cmax))
        );
    }
    assert!(
        worst <= Duration::from_millis(250),
        "a lookup's median {worst:?} is over the 250 ms budget"
    );
}

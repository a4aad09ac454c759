//! Python 2's ticks, modelled and real: the race lab's loop bodies count
//! as many ticks per iteration as CPython 2.7 counts on `_Py_Ticker` when
//! it runs the same loops (read with ctypes around each loop, with the
//! check interval raised so no release resets the ticker meanwhile).

use std::path::PathBuf;
use std::process::Command;

use threadlab::gil::model::PythonVersion;
use threadlab::sync::Body;

/// Counts `_Py_Ticker` over 10,000 iterations of each race body (minus a
/// run of none) and prints `plain N` and `call N`, N per iteration.
const COUNT_TICKS: &str = r#"
import sys, ctypes
sys.setcheckinterval(1 << 30)
ticker = ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_Ticker")
counter = 0
def inc(x):
    return x + 1
def plain(n):
    global counter
    for _ in range(n):
        counter += 1
def call(n):
    global counter
    for _ in range(n):
        counter = inc(counter)
def ticks(f, n):
    before = ticker.value
    f(n)
    return before - ticker.value
for f in (plain, call):
    print("%s %s" % (f.__name__, (ticks(f, 10000) - ticks(f, 0)) / 10000.0))
"#;

/// A CPython 2.7 with a shared libpython (`ctypes.pythonapi` must see
/// `_Py_Ticker`): pyenv's 2.7.18, or `python2.7` on PATH.
fn python27() -> PathBuf {
    std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")))
        .map(|root| root.join("versions/2.7.18/bin/python"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("python2.7"))
}

#[test]
fn modelled_python_2_ticks_are_the_real_2_7_ticks() {
    let python = python27();
    let out = match Command::new(&python).args(["-c", COUNT_TICKS]).output() {
        Ok(out) if out.status.success() => out,
        other => {
            threadlab_test_support::skip::skip(format!(
                "no CPython 2.7 to count ticks with ({}: {other:?}); install 2.7.18 with pyenv",
                python.display()
            ));
            return;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let real = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no '{name}' count in {text:?}"))
    };
    let model = PythonVersion::PY27.model();
    for (body, name) in [(Body::Plain, "plain "), (Body::Call, "call ")] {
        let modelled = body.checks_per_iteration(model) as f64;
        assert_eq!(
            modelled,
            real(name),
            "{body}: modelled {modelled} ticks an iteration, {} counts {}",
            python.display(),
            real(name)
        );
    }
}

/// Times 2.7's `cpu_step` (the script's, the emulated step's work) and
/// counts its ticks on `_Py_Ticker`; prints `ns N`, the fastest of five
/// runs' nanoseconds per tick (the fastest is the one the machine's load
/// slowed least).
const TIME_TICKS: &str = r#"
import sys, ctypes, time
sys.path.insert(0, sys.argv[1])
import threadlab_bench as tb
sys.setcheckinterval(1 << 30)
ticker = ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_Ticker")
def run(n):
    x = 0x2545F4914F6CDD1D
    for _ in range(n):
        x = tb.cpu_step(x)
    return x
def ticks(n):
    before = ticker.value
    run(n)
    return before - ticker.value
per_step = (ticks(10000) - ticks(0)) / 10000.0
best = None
for _ in range(5):
    began = time.time()
    run(50000)
    took = time.time() - began
    best = took if best is None else min(best, took)
print("ns %f" % (best / 50000 / per_step * 1e9))
"#;

/// `legacy` holds Python 2's lock at least 101 of 2.7's ticks in time
/// (`PY27_TICK_NS`): that is the real 2.7's tick on this machine, within
/// 0.5–2×. It was 40 ns, timed under heavy load; on a quiet machine 2.7.18
/// ticks in 16–19 ns here, and with 40 the emulated convoy beside one CPU
/// thread slowed 4–10× where 2.7.18 slows 1.5–2× (BENCHMARKS.md).
#[test]
fn a_modelled_python_2_tick_lasts_as_long_as_a_real_one() {
    let python = python27();
    let assets = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/python");
    let out = match Command::new(&python)
        .args(["-c", TIME_TICKS])
        .arg(&assets)
        .output()
    {
        Ok(out) if out.status.success() => out,
        other => {
            threadlab_test_support::skip::skip(format!(
                "no CPython 2.7 to time ticks with ({}: {other:?}); install 2.7.18 with pyenv",
                python.display()
            ));
            return;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let real: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("ns ")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no 'ns' line in {text:?}"));
    let modelled = threadlab::gil::PY27_TICK_NS as f64;
    eprintln!("2.7 ticks in {real:.1} ns here; modelled {modelled} ns");
    assert!(
        (0.5..=2.0).contains(&(modelled / real)),
        "modelled tick {modelled} ns, {} ticks in {real:.1} ns",
        python.display()
    );
}

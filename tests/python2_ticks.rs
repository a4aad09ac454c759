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

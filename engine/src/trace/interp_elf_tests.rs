//! The builds that cannot be traced (and the free-threaded ones, traced
//! by thread states only), tested on real ELF files: no
//! free-threaded or GIL-less CPython is installed here, so these tests
//! compile small stand-ins with the C compiler (`cc`) — a shared library
//! with the symbols a `libpythonX.Y.so` shows the classifier (`take_gil`,
//! `drop_gil` as local functions in `.symtab`, `Py_Initialize`,
//! `Py_Version`, and for a free-threaded build `_Py_MergeZeroLocalRefcount`
//! and the "free-threading build" version text), and a `python` executable
//! that needs it through `DT_NEEDED` and `RUNPATH`, as pyenv's builds do.
//! The stand-ins' sources are `testdata/libpython.c` and `testdata/python.c`.
//! Each refusal is checked as the exact one line the user reads; a control
//! build with the GIL is found traceable, so a refusal comes from the mark
//! under test and not from a broken stand-in.
//!
//! Skipped, with the reason printed, where no C compiler is installed.

use std::path::{Path, PathBuf};

use super::{Interpreter, TraceError, classify, search_library};
use standin::Build;

#[path = "testdata/standin.rs"]
#[macro_use]
mod standin;

fn resolve(name: &str, dirs: &[PathBuf], runpath: bool) -> Option<PathBuf> {
    search_library(name, dirs, runpath, None)
}

/// The one line the user reads for `file`.
fn refusal(file: &Path) -> String {
    match classify(file, file, &resolve) {
        Err(error) => error.to_string(),
        Ok(found) => panic!("{} was accepted: {found:?}", file.display()),
    }
}

/// `file` accepted as a free-threaded build: no probes, thread states only.
fn gil_less(file: &Path) -> Interpreter {
    let python = classify(file, file, &resolve)
        .unwrap_or_else(|e| panic!("{} was refused: {e}", file.display()))
        .unwrap_or_else(|| panic!("{} is not Python", file.display()));
    assert!(python.gil_disabled, "{python:?}");
    assert!(
        python.take_gil.is_empty() && python.drop_gil.is_empty(),
        "no probe may go on a free-threaded build: {python:?}"
    );
    python
}

#[test]
fn a_build_with_the_gil_is_traceable_the_control_for_the_refusals() {
    let build = build_or_skip!();
    let lib = build.library("libpython3.13.so.1.0", &[], false);
    let exe = build.executable("python3.13", "libpython3.13.so.1.0");
    let python = classify(&exe, &exe, &resolve)
        .expect("a build with the GIL is traceable")
        .expect("it is Python");
    assert_eq!(python.version, "3.13.0");
    assert_eq!(python.library.as_deref(), Some(lib.as_path()));
    assert_eq!(python.probe_file, lib);
    assert_eq!((python.take_gil.len(), python.drop_gil.len()), (1, 1));
}

#[test]
fn a_free_threaded_build_is_recognised_through_its_python_executable() {
    let build = build_or_skip!();
    let lib = build.library(
        "libpython3.13t.so.1.0",
        &["-DFREE_SYMBOLS", "-DFREE_TEXT"],
        false,
    );
    let exe = build.executable("python3.13t", "libpython3.13t.so.1.0");
    let python = gil_less(&exe);
    assert_eq!(python.library.as_deref(), Some(lib.as_path()));
    assert_eq!(python.version, "3.13.0");
}

#[test]
fn each_mark_of_a_free_threaded_build_is_enough_alone() {
    let build = build_or_skip!();
    // The control: the same library without any mark has the GIL.
    let plain = build.library("libpython3.13.so.1.2", &[], false);
    let python = classify(&plain, &plain, &resolve)
        .expect("traceable")
        .expect("Python");
    assert!(!python.gil_disabled && !python.take_gil.is_empty());
    // The `t` ABI flag in the name, nothing else.
    gil_less(&build.library("libpython3.13t.so.1.0", &[], false));
    // The biased-refcount exports, under a name without the flag.
    gil_less(&build.library("libpython3.13.so.1.0", &["-DFREE_SYMBOLS"], false));
    // The version text alone.
    gil_less(&build.library("libpython3.13.so.1.1", &["-DFREE_TEXT"], false));
}

#[test]
fn a_stripped_free_threaded_build_is_recognised_as_free_threaded() {
    let build = build_or_skip!();
    // No .symtab, so no take_gil: still free-threaded, read from what
    // stripping keeps (the exports in .dynsym, the version text).
    gil_less(&build.library("libpython3.13.so.1.0", &["-DFREE_SYMBOLS"], true));
}

#[test]
fn take_gil_inlined_away_is_refused_in_one_line() {
    let build = build_or_skip!();
    let lib = build.library("libpython3.13.so.1.0", &["-DNO_TAKE_GIL"], false);
    let exe = build.executable("python3.13", "libpython3.13.so.1.0");
    let line = format!(
        "{} has a symbol table but no take_gil/drop_gil (inlined by the compiler?): use a build that keeps them — pyenv's, python.org's or uv's",
        lib.display()
    );
    assert_eq!(refusal(&exe), line);
    assert!(matches!(
        classify(&exe, &exe, &resolve),
        Err(TraceError::NoGilSymbols { .. })
    ));
}

#[test]
fn a_stripped_build_with_the_gil_is_refused_as_stripped() {
    let build = build_or_skip!();
    let lib = build.library("libpython3.13.so.1.0", &[], true);
    let exe = build.executable("python3.13", "libpython3.13.so.1.0");
    // Each other way says in a clause why it found nothing; then what
    // would help (no package owns a temporary stand-in: the general line).
    let line = refusal(&exe);
    let start = format!(
        "{} has no symbol table (stripped) and take_gil was found no other way (debug-file: ",
        lib.display()
    );
    assert!(line.starts_with(&start), "{line}");
    for clause in [
        "; debuginfod: ",
        "; minidebuginfo: no .gnu_debugdata; disassembly: PyEval_RestoreThread is not exported): ",
    ] {
        assert!(line.contains(clause), "{clause:?} in {line}");
    }
    assert!(
        line.ends_with(
            "install its debug symbols, or use a build that keeps them — pyenv's, python.org's or uv's"
        ),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1, "{line}");
}

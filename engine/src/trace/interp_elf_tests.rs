//! The builds that cannot be traced, tested on real ELF files: no
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

use super::{TraceError, classify, search_library};
use standin::Build;

#[path = "testdata/standin.rs"]
#[macro_use]
mod standin;

fn resolve(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    search_library(name, dirs, None)
}

/// The one line the user reads for `file`.
fn refusal(file: &Path) -> String {
    match classify(file, file, &resolve) {
        Err(error) => error.to_string(),
        Ok(found) => panic!("{} was accepted: {found:?}", file.display()),
    }
}

fn free_threaded_line(file: &Path) -> String {
    format!(
        "{} is a free-threaded build (GIL disabled): there is no GIL to trace; trace the same Python's default build (e.g. python3.13, not python3.13t)",
        file.display()
    )
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
fn a_free_threaded_build_is_refused_through_its_python_executable() {
    let build = build_or_skip!();
    let lib = build.library(
        "libpython3.13t.so.1.0",
        &["-DFREE_SYMBOLS", "-DFREE_TEXT"],
        false,
    );
    let exe = build.executable("python3.13t", "libpython3.13t.so.1.0");
    assert_eq!(refusal(&exe), free_threaded_line(&lib));
}

#[test]
fn each_mark_of_a_free_threaded_build_is_enough_alone() {
    let build = build_or_skip!();
    // The `t` ABI flag in the name, nothing else.
    let named = build.library("libpython3.13t.so.1.0", &[], false);
    assert_eq!(refusal(&named), free_threaded_line(&named));
    // The biased-refcount exports, under a name without the flag.
    let exports = build.library("libpython3.13.so.1.0", &["-DFREE_SYMBOLS"], false);
    assert_eq!(refusal(&exports), free_threaded_line(&exports));
    // The version text alone.
    let text = build.library("libpython3.13.so.1.1", &["-DFREE_TEXT"], false);
    assert_eq!(refusal(&text), free_threaded_line(&text));
}

#[test]
fn a_stripped_free_threaded_build_is_refused_as_free_threaded() {
    let build = build_or_skip!();
    // No .symtab, so no take_gil: still the free-threaded line, read from
    // what stripping keeps (the exports in .dynsym, the version text).
    let lib = build.library("libpython3.13.so.1.0", &["-DFREE_SYMBOLS"], true);
    assert_eq!(refusal(&lib), free_threaded_line(&lib));
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
    let line = format!(
        "{} has no symbol table (stripped), so take_gil cannot be found: use a build that keeps it — pyenv's, python.org's or uv's — or install its debug symbols",
        lib.display()
    );
    assert_eq!(refusal(&exe), line);
}

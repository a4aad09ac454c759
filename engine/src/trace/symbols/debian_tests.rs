//! A real distribution build against its real debug package: Debian's
//! stripped `python3.11` (from `python3.11-minimal`) and the detached
//! symbols `python3.11-dbg` ships for it, of the same version. The two
//! `.deb` files are downloaded, never installed (`.ci/debian-python` puts
//! them in `target/debian-python/`), and unpacked into a temp dir here, so
//! the machine's own Python and `/usr/lib/debug` stay as they are.
//!
//! Two ways must agree on a build with LTO (`take_gil.lto_priv.0`, a
//! `.cold` fragment beside it): the debug package by build id, and the
//! disassembly of the exported C API with no debug file at all.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

/// The directory holding the two `.deb` files, if `.ci/debian-python` ran.
fn debs() -> Result<(PathBuf, PathBuf), String> {
    let dir = std::env::var_os("THREADLAB_DEBIAN_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debian-python"),
        PathBuf::from,
    );
    let find = |prefix: &str| {
        std::fs::read_dir(&dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".deb"))
            })
    };
    match (find("python3.11-minimal_"), find("python3.11-dbg_")) {
        (Some(minimal), Some(dbg)) => Ok((minimal, dbg)),
        _ => Err(format!(
            "Debian's python3.11-minimal and python3.11-dbg .deb files are not in {}; run `.ci/debian-python` (downloads, never installs)",
            dir.display()
        )),
    }
}

fn unpack(deb: &Path, into: &Path) {
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(into)
        .status()
        .expect("run dpkg-deb");
    assert!(status.success(), "dpkg-deb -x {}", deb.display());
}

fn lookup(debug_roots: Vec<PathBuf>) -> Lookup {
    Lookup {
        debug_roots,
        debuginfod_urls: Vec::new(),
        cache_dir: None,
        timeout: std::time::Duration::from_secs(5),
    }
}

#[test]
fn debians_debug_package_and_the_disassembly_find_the_same_gil_functions() {
    let (minimal, dbg) = match debs() {
        Ok(debs) => debs,
        Err(why) => {
            threadlab_test_support::skip::skip(why);
            return;
        }
    };
    let dir = tempfile::tempdir().expect("temp dir");
    unpack(&minimal, &dir.path().join("minimal"));
    unpack(&dbg, &dir.path().join("dbg"));
    let python = dir.path().join("minimal/usr/bin/python3.11");
    let data = std::fs::read(&python).expect("read python3.11");

    let from_package = find(
        &python,
        &data,
        &lookup(vec![dir.path().join("dbg/usr/lib/debug")]),
    )
    .expect("the debug package names take_gil and drop_gil");
    assert_eq!(from_package.source, SymbolSource::DebugFile);
    assert!(!from_package.take_gil.is_empty() && !from_package.drop_gil.is_empty());

    let disassembled = find(&python, &data, &lookup(Vec::new()))
        .expect("the disassembly finds take_gil and drop_gil");
    assert_eq!(disassembled.source, SymbolSource::Disassembly);
    assert_eq!(disassembled.take_gil, from_package.take_gil, "take_gil");
    assert_eq!(disassembled.drop_gil, from_package.drop_gil, "drop_gil");
}

//! Each way of finding the GIL functions, against the real interpreters on
//! this machine: pyenv's shared builds (3.6–3.13, symbol tables kept) are
//! stripped into temporary copies, and every way must find exactly the
//! offsets the unstripped symbol table gives — or refuse.
//!
//! "Exactly" means: the same *set* of function entries. A build may have
//! several (pyenv's 3.8 has `take_gil` and `take_gil.constprop.0`, both
//! called); the symbol table's set is every `take_gil*` entry the
//! `names` filter accepts (no `.cold`, no `.part`), and a way must find
//! all of them — one copy missing would lose its events.

use std::path::{Path, PathBuf};
use std::process::Command;

use object::Endianness;
use object::read::elf::ElfFile64;

use super::*;

/// (version, libpython) of every pyenv 3.x here.
pub(super) fn pyenv_libraries() -> Vec<(String, PathBuf)> {
    let Ok(dir) = std::fs::read_dir("/root/.pyenv/versions") else {
        return Vec::new();
    };
    let mut found: Vec<(String, PathBuf)> = dir
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.to_string();
            if !version.starts_with("3.") {
                return None;
            }
            let lib = std::fs::read_dir(entry.path().join("lib"))
                .ok()?
                .flatten()
                .map(|e| e.path())
                .find(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("libpython3.") && n.ends_with(".so.1.0"))
                })?;
            Some((version, lib))
        })
        .collect();
    found.sort();
    found
}

/// The offsets in `path`'s own symbol table.
pub(super) fn symtab_offsets(path: &Path) -> (Vec<u64>, Vec<u64>) {
    let data = std::fs::read(path).expect("read");
    let file = ElfFile64::<Endianness>::parse(&*data).expect("ELF");
    names::gil_offsets(&file, &file)
}

/// `tool args… ` must succeed.
pub(super) fn run(tool: &str, args: &[&std::ffi::OsStr]) {
    let out = Command::new(tool).args(args).output().expect(tool);
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A `strip --strip-all` copy of `lib` in `dir`, same file name.
pub(super) fn stripped_copy(lib: &Path, dir: &Path) -> PathBuf {
    let out = dir.join(lib.file_name().expect("name"));
    run(
        "strip",
        &[
            "--strip-all".as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
            lib.as_os_str(),
        ],
    );
    out
}

fn no_lookup() -> Lookup {
    Lookup {
        debug_roots: Vec::new(),
        debuginfod_urls: Vec::new(),
        cache_dir: None,
        timeout: std::time::Duration::from_secs(5),
    }
}

fn have_binutils() -> Option<String> {
    let ok = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    ["strip", "objcopy", "xz"]
        .into_iter()
        .find(|t| !ok(t))
        .map(|t| format!("no {t} (binutils/xz-utils) to make stripped copies"))
}

macro_rules! libraries_or_skip {
    () => {{
        if let Some(why) = have_binutils() {
            threadlab_test_support::skip::skip(why);
            return;
        }
        let libraries = pyenv_libraries();
        if libraries.is_empty() {
            threadlab_test_support::skip::skip("no pyenv 3.x under /root/.pyenv/versions");
            return;
        }
        libraries
    }};
}

/// The required test: every pyenv libpython, stripped, is read by
/// disassembly to exactly its symbol table's offsets, or refused.
#[test]
fn disassembly_finds_exactly_the_symbol_tables_offsets_in_stripped_pyenv_builds() {
    let libraries = libraries_or_skip!();
    let dir = tempfile::tempdir().expect("tempdir");
    for (version, lib) in libraries {
        let expected = symtab_offsets(&lib);
        assert!(
            !expected.0.is_empty() && !expected.1.is_empty(),
            "{version}"
        );
        let copy = stripped_copy(&lib, dir.path());
        assert!(
            symtab_offsets(&copy).0.is_empty(),
            "{version}: strip kept take_gil"
        );
        let data = std::fs::read(&copy).expect("read copy");
        let started = std::time::Instant::now();
        let found = find(&copy, &data, &no_lookup());
        eprintln!(
            "{version}: {:?} in {:?} (symtab: take {:x?} drop {:x?})",
            found,
            started.elapsed(),
            expected.0,
            expected.1
        );
        let found = found.unwrap_or_else(|why| panic!("{version} refused: {why}"));
        assert_eq!(found.source, SymbolSource::Disassembly);
        assert_eq!((found.take_gil, found.drop_gil), expected, "{version}");
    }
}

/// One pyenv library for the other ways: 3.8 if here (two `take_gil`
/// copies, so "all copies" is tested too), else the newest.
fn one_library(libraries: &[(String, PathBuf)]) -> (String, PathBuf) {
    libraries
        .iter()
        .find(|(v, _)| v.starts_with("3.8."))
        .or(libraries.last())
        .cloned()
        .expect("a library")
}

fn build_id_of(path: &Path) -> String {
    let data = std::fs::read(path).expect("read");
    build_id_hex(&ElfFile64::<Endianness>::parse(&*data).expect("ELF")).expect("a build id")
}

fn lookup_in(roots: &[&Path]) -> Lookup {
    Lookup {
        debug_roots: roots.iter().map(|r| r.to_path_buf()).collect(),
        ..no_lookup()
    }
}

fn found_in(copy: &Path, lookup: &Lookup) -> Result<Found, String> {
    let data = std::fs::read(copy).expect("read copy");
    find(copy, &data, lookup)
}

/// `objcopy --only-keep-debug lib out`: what a -dbg package holds.
fn debug_file(lib: &Path, out: &Path) {
    std::fs::create_dir_all(out.parent().expect("dir")).expect("mkdir");
    run(
        "objcopy",
        &[
            "--only-keep-debug".as_ref(),
            lib.as_os_str(),
            out.as_os_str(),
        ],
    );
}

#[test]
fn a_debug_file_is_found_by_build_id_under_a_debug_root() {
    let libraries = libraries_or_skip!();
    let (version, lib) = one_library(&libraries);
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = stripped_copy(&lib, dir.path());
    let id = build_id_of(&copy);
    let root = dir.path().join("debug");
    debug_file(
        &lib,
        &root
            .join(".build-id")
            .join(&id[..2])
            .join(format!("{}.debug", &id[2..])),
    );
    let found = found_in(&copy, &lookup_in(&[&root])).expect("found");
    assert_eq!(found.source, SymbolSource::DebugFile, "{version}");
    assert_eq!(
        (found.take_gil, found.drop_gil),
        symtab_offsets(&lib),
        "{version}"
    );
}

#[test]
fn a_gnu_debuglink_is_followed_beside_the_file_in_dot_debug_and_under_a_root() {
    let libraries = libraries_or_skip!();
    let (version, lib) = one_library(&libraries);
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    let copy = stripped_copy(&lib, &bin);
    // The link names the debug file and carries its CRC32.
    let made = dir.path().join("made").join("libpython.debug");
    debug_file(&lib, &made);
    run(
        "objcopy",
        &[
            format!("--add-gnu-debuglink={}", made.display()).as_ref(),
            copy.as_os_str(),
        ],
    );
    let expected = symtab_offsets(&lib);
    let root = dir.path().join("root");
    let under_root = root
        .join(bin.strip_prefix("/").expect("absolute"))
        .join("libpython.debug");
    for place in [
        bin.join("libpython.debug"),
        bin.join(".debug").join("libpython.debug"),
        under_root,
    ] {
        std::fs::create_dir_all(place.parent().expect("dir")).expect("mkdir");
        std::fs::copy(&made, &place).expect("copy");
        let found = found_in(&copy, &lookup_in(&[&root])).expect("found");
        assert_eq!(found.source, SymbolSource::DebugFile, "{}", place.display());
        assert_eq!(
            (&found.take_gil, &found.drop_gil),
            (&expected.0, &expected.1)
        );
        std::fs::remove_file(&place).expect("rm");
    }
    // A debug file of another build (its CRC differs) is not believed.
    let other = libraries
        .iter()
        .find(|(v, _)| *v != version)
        .map_or(lib.clone(), |(_, l)| l.clone());
    debug_file(&other, &bin.join("libpython.debug"));
    let mut data = std::fs::read(bin.join("libpython.debug")).expect("read");
    data.push(0);
    std::fs::write(bin.join("libpython.debug"), data).expect("write");
    let refused = found_in(&copy, &lookup_in(&[&root]));
    let found = refused.expect("disassembly still finds them");
    assert_eq!(found.source, SymbolSource::Disassembly);
}

/// Fedora's MiniDebugInfo, made the way its `find-debuginfo` makes it:
/// the static functions' symbols, xz-compressed into `.gnu_debugdata`.
#[test]
fn minidebuginfo_made_the_fedora_way_gives_the_symbol_tables_offsets() {
    let libraries = libraries_or_skip!();
    let (version, lib) = one_library(&libraries);
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = stripped_copy(&lib, dir.path());
    let script = r#"set -e
cd "$1"
nm -D "$2" --format=posix --defined-only | awk '{ print $1 }' | sort > dynsyms
nm "$2" --format=posix --defined-only | awk '{ if ($2 == "T" || $2 == "t" || $2 == "D") print $1 }' | sort > funcsyms
comm -13 dynsyms funcsyms > keep_symbols
objcopy --only-keep-debug "$2" full.debug
objcopy -S --remove-section .gdb_index --remove-section .comment --keep-symbols=keep_symbols full.debug mini_debuginfo
xz mini_debuginfo
objcopy --add-section .gnu_debugdata=mini_debuginfo.xz "$3"
"#;
    let out = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(dir.path())
        .arg(&lib)
        .arg(&copy)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found = found_in(&copy, &no_lookup()).expect("found");
    assert_eq!(found.source, SymbolSource::Minidebuginfo, "{version}");
    assert_eq!(
        (found.take_gil, found.drop_gil),
        symtab_offsets(&lib),
        "{version}"
    );
}

/// A debuginfod server on 127.0.0.1 (a std listener): serves `debug` at
/// `/buildid/<id>/debuginfo` and 404 otherwise; counts the requests.
struct Server {
    url: String,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

fn serve(id: String, debug: Vec<u8>) -> Server {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut stream = stream;
            if request.starts_with(&format!("GET /buildid/{id}/debuginfo ")) {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    debug.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&debug);
            } else {
                let _ = stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        }
    });
    Server { url, hits }
}

/// Every file under `dir`, relative.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path.strip_prefix(dir).expect("under").to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn debuginfod_downloads_once_into_the_cache_and_says_why_when_it_cannot() {
    let libraries = libraries_or_skip!();
    let (version, lib) = one_library(&libraries);
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = stripped_copy(&lib, dir.path());
    let id = build_id_of(&copy);
    let made = dir.path().join("served.debug");
    debug_file(&lib, &made);
    let server = serve(id.clone(), std::fs::read(&made).expect("read"));
    // A closed port first: its failure is one clause, then the next URL.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let cache = dir
        .path()
        .join("cache")
        .join("threadlab")
        .join("debuginfod");
    let lookup = Lookup {
        debuginfod_urls: vec![closed_url, server.url.clone()],
        cache_dir: Some(cache.clone()),
        ..no_lookup()
    };
    let found = found_in(&copy, &lookup).expect("found");
    assert_eq!(found.source, SymbolSource::Debuginfod, "{version}");
    assert_eq!(
        (found.take_gil, found.drop_gil),
        symtab_offsets(&lib),
        "{version}"
    );
    // Cached whole under the build id, nothing else left in the cache.
    let cached = PathBuf::from(&id).join("debuginfo");
    assert_eq!(files_under(&cache), vec![cached.clone()]);
    assert_eq!(
        std::fs::read(cache.join(&cached)).expect("cached"),
        std::fs::read(&made).expect("made")
    );
    // The second lookup reads the cache: no request.
    let hits = server.hits.load(std::sync::atomic::Ordering::SeqCst);
    let again = found_in(&copy, &lookup).expect("found again");
    assert_eq!(again.source, SymbolSource::Debuginfod);
    assert_eq!(server.hits.load(std::sync::atomic::Ordering::SeqCst), hits);
    // A server without it: "HTTP 404" in the chain, and the next way used.
    let empty = serve("0".repeat(40), Vec::new());
    let lookup = Lookup {
        debuginfod_urls: vec![empty.url.clone()],
        cache_dir: Some(dir.path().join("other-cache")),
        ..no_lookup()
    };
    let found = found_in(&copy, &lookup).expect("disassembly");
    assert_eq!(found.source, SymbolSource::Disassembly);
    let data = std::fs::read(&copy).expect("read");
    let file = ElfFile64::<Endianness>::parse(&*data).expect("ELF");
    let why = debuginfod::fetch(&file, &lookup).expect_err("404");
    assert_eq!(
        why,
        format!("{}/buildid/{id}/debuginfo: HTTP 404", empty.url)
    );
    assert!(!dir.path().join("other-cache").join(&id).exists());
}

#[test]
fn a_debuginfod_server_that_never_answers_times_out_in_one_clause() {
    let libraries = libraries_or_skip!();
    let (_, lib) = one_library(&libraries);
    let data = std::fs::read(&lib).expect("read");
    let file = ElfFile64::<Endianness>::parse(&*data).expect("ELF");
    // Accepts (the kernel's backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", silent.local_addr().expect("addr"));
    let lookup = Lookup {
        debuginfod_urls: vec![url.clone()],
        timeout: std::time::Duration::from_millis(500),
        ..no_lookup()
    };
    let started = std::time::Instant::now();
    let why = debuginfod::fetch(&file, &lookup).expect_err("silent");
    assert!(why.ends_with("/debuginfo: timed out"), "{why}");
    assert!(why.starts_with(&url), "{why}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

/// Where `drop_gil` was inlined into the C API's releasing functions, their
/// entries are found (and nowhere else): pyenv's 3.13 `PyEval_ReleaseLock`,
/// Debian's 3.11 `PyEval_SaveThread`.
#[test]
fn releasing_functions_with_drop_gil_inlined_are_found() {
    let mut checked = 0;
    let exported = |path: &Path, name: &str| -> Option<u64> {
        let data = std::fs::read(path).ok()?;
        let file = ElfFile64::<Endianness>::parse(&*data).ok()?;
        use object::{Object, ObjectSymbol};
        let symbol = file.dynamic_symbols().find(|s| s.name() == Ok(name))?;
        names::file_offset(&file, symbol.address())
    };
    let releasers = |path: &Path| {
        let data = std::fs::read(path).expect("read");
        inlined_releasers(&ElfFile64::<Endianness>::parse(&*data).expect("ELF"))
    };
    for (version, lib) in pyenv_libraries() {
        let expected: Vec<u64> = if version.starts_with("3.13.") {
            exported(&lib, "PyEval_ReleaseLock").into_iter().collect()
        } else {
            Vec::new()
        };
        assert_eq!(releasers(&lib), expected, "{version}");
        checked += 1;
    }
    let debian = Path::new("/usr/bin/python3.11");
    if debian.is_file() && exported(debian, "PyEval_SaveThread").is_some() {
        let save = exported(debian, "PyEval_SaveThread")
            .into_iter()
            .collect::<Vec<_>>();
        assert_eq!(releasers(debian), save);
        checked += 1;
    }
    if checked == 0 {
        threadlab_test_support::skip::skip("no pyenv 3.x and no /usr/bin/python3.11");
    }
}

/// Small real builds (`testdata/gilshapes.c`, compiled with `cc -O2`) of
/// GIL functions shaped as CPython's: the good one is found at its symbol
/// table's offsets once stripped; each broken shape is refused, naming why.
#[test]
fn disassembly_refuses_each_broken_shape_and_finds_the_good_one() {
    if Command::new("cc").arg("--version").output().is_err() {
        threadlab_test_support::skip::skip("no C compiler (cc) to build stand-ins");
        return;
    }
    if let Some(why) = have_binutils() {
        threadlab_test_support::skip::skip(why);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("gilshapes.c");
    std::fs::write(&source, include_str!("../testdata/gilshapes.c")).expect("write");
    let build = |define: &str| -> (PathBuf, PathBuf) {
        let sub = dir
            .path()
            .join(if define.is_empty() { "good" } else { define });
        std::fs::create_dir(&sub).expect("mkdir");
        let lib = sub.join("libpython3.13.so.1.0");
        let mut cc = Command::new("cc");
        cc.args(["-O2", "-shared", "-fPIC", "-pthread", "-o"])
            .arg(&lib)
            .arg(&source);
        if !define.is_empty() {
            cc.arg(format!("-D{define}"));
        }
        let out = cc.output().expect("cc");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stripped = sub.join("stripped");
        std::fs::create_dir(&stripped).expect("mkdir");
        (lib.clone(), stripped_copy(&lib, &stripped))
    };
    let disassembly = |copy: &Path| {
        let data = std::fs::read(copy).expect("read");
        disasm::find(&ElfFile64::<Endianness>::parse(&*data).expect("ELF"))
    };
    let (lib, copy) = build("");
    let found = found_in(&copy, &no_lookup()).expect("the good shape is found");
    assert_eq!(found.source, SymbolSource::Disassembly);
    assert_eq!((found.take_gil, found.drop_gil), symtab_offsets(&lib));
    for (define, why) in [
        ("NO_MUTEX", "the pthread_cond_timedwait call at 0x"),
        (
            "TAKE_INLINED",
            "take_gil is inlined into the exported PyEval_RestoreThread",
        ),
        ("DROP_CALLS_MORE", "no function shaped like drop_gil"),
    ] {
        let (_, copy) = build(define);
        let refused = disassembly(&copy).expect_err(define);
        assert!(refused.starts_with(why), "{define}: {refused}");
    }
}

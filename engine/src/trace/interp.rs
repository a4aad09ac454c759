//! Recognising a CPython interpreter from its ELF files: where `take_gil`
//! and `drop_gil` live (file offsets for the uprobes), which version it is,
//! and the builds that cannot be traced (stripped, Python 2, free-threaded).
//!
//! The GIL functions are `static` in `Python/ceval_gil.c`, so only the full
//! symbol table (`.symtab`) names them; the dynamic one never does. A
//! stripped build's are looked for in its debug files, MiniDebugInfo or
//! machine code ([`symbols`](super::symbols)), and the way is recorded
//! ([`Interpreter::symbols`]). A
//! shared build (`--enable-shared`, as pyenv builds here) keeps them in
//! `libpythonX.Y.so`, which the `python` binary lists in `DT_NEEDED`.
//!
//! A free-threaded build (`--disable-gil`, `Py_GIL_DISABLED`) still has
//! `take_gil` (the GIL can be switched back on at run time), so it is told
//! apart by any of three marks, each present in 3.13t and 3.14t: the `t`
//! ABI flag in the file name (`python3.13t`, `libpython3.13t.so.1.0`), the
//! exported functions only that build has (`_Py_MergeZeroLocalRefcount`,
//! `_Py_DecRefShared`: biased reference counting, in `.dynsym` even when
//! stripped), and `Py_GetVersion`'s "free-threading build" text. Such a
//! build is traced without probes: its threads' scheduler states only
//! ([`Interpreter::gil_disabled`]), stripped or not.

use std::path::{Path, PathBuf};

use object::read::elf::{Dyn as _, ElfFile64};
use object::{Endianness, Object, ObjectSection, ObjectSymbol};

use super::TraceError;
use super::symbols::{self, Lookup, SymbolSource, hint, names};

/// A traceable interpreter: which file to probe and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    /// The program's executable (`/proc/PID/exe`).
    pub executable: PathBuf,
    /// The `libpythonX.Y.so` holding the GIL functions, for a shared build.
    pub(crate) library: Option<PathBuf>,
    /// The version, e.g. `3.11.7`.
    pub version: String,
    /// The file the probes go on: `library` if set, else `executable`.
    pub(crate) probe_file: PathBuf,
    /// File offsets of every copy of `take_gil` (LTO and constant
    /// propagation may leave more than one, e.g. `take_gil.constprop.0`).
    pub(crate) take_gil: Vec<u64>,
    /// File offsets of every copy of `drop_gil`, and of the exported
    /// functions that always release the GIL with `drop_gil` inlined into
    /// them (`PyEval_SaveThread` in Debian's 3.11): entry probes only.
    pub(crate) drop_gil: Vec<u64>,
    /// A free-threaded build: no GIL to probe, the threads' scheduler
    /// states only (`take_gil`/`drop_gil` are left empty).
    pub gil_disabled: bool,
    /// Where `take_gil`/`drop_gil` were found (`None`: nothing probed, a
    /// free-threaded build).
    pub symbols: Option<SymbolSource>,
}

/// What one ELF file says about Python.
#[derive(Debug, Default)]
struct ElfFacts {
    take_gil: Vec<u64>,
    drop_gil: Vec<u64>,
    has_symtab: bool,
    /// Exports the embedding API (`Py_Initialize` & co): it is an interpreter.
    exports_python: bool,
    needed: Vec<String>,
    /// `DT_RUNPATH`'s directories if it has one, else `DT_RPATH`'s (the
    /// loader ignores `DT_RPATH` beside `DT_RUNPATH`).
    search_dirs: Vec<String>,
    /// Whether `search_dirs` are `DT_RUNPATH`'s (searched after
    /// `LD_LIBRARY_PATH`) rather than `DT_RPATH`'s (before it).
    runpath: bool,
    version: Option<String>,
    free_threaded: bool,
    /// How `take_gil`/`drop_gil` were found, when they were.
    source: Option<SymbolSource>,
    /// Without a symbol table: why each other way found nothing.
    tried: Option<String>,
}

/// Finds a `DT_NEEDED` library by name, given the executable's own
/// directories and whether they are `DT_RUNPATH`'s ([`classify`]).
pub(crate) type Resolve<'a> = dyn Fn(&str, &[PathBuf], bool) -> Option<PathBuf> + 'a;

/// Decides whether `exe` is a CPython interpreter that can be traced.
///
/// `resolve` finds a `DT_NEEDED` library by name (from `/proc/PID/maps` for a
/// running program, from the search path at exec time); it gets the
/// executable's own `RUNPATH`/`RPATH` directories, `$ORIGIN` expanded, and
/// whether they are `RUNPATH`'s ([`search_library`] orders them by it).
/// `Ok(None)`: not Python at all (a shell, a launcher) — keep following.
pub(crate) fn classify(
    exe: &Path,
    read_path: &Path,
    resolve: &Resolve<'_>,
) -> Result<Option<Interpreter>, TraceError> {
    classify_with(exe, read_path, resolve, &Lookup::from_env())
}

/// [`classify`] looking for symbols of a stripped file where `lookup` says.
pub(crate) fn classify_with(
    exe: &Path,
    read_path: &Path,
    resolve: &Resolve,
    lookup: &Lookup,
) -> Result<Option<Interpreter>, TraceError> {
    let facts = elf_facts(read_path, exe, lookup)?;
    if !facts.take_gil.is_empty() {
        return interpreter(exe, None, read_path, facts).map(Some);
    }
    let origin = exe.parent().unwrap_or(Path::new("/"));
    let dirs: Vec<PathBuf> = facts
        .search_dirs
        .iter()
        .map(|d| {
            tidy(&PathBuf::from(
                d.replace("$ORIGIN", &origin.to_string_lossy()),
            ))
        })
        .collect();
    if let Some(name) = facts.needed.iter().find(|n| n.starts_with("libpython")) {
        let Some(lib) = resolve(name, &dirs, facts.runpath) else {
            return Err(TraceError::LibraryNotFound {
                exe: exe.to_path_buf(),
                library: name.clone(),
            });
        };
        let lib_facts = elf_facts(&lib, &lib, lookup)?;
        if lib_facts.take_gil.is_empty() && !lib_facts.free_threaded {
            return Err(untraceable(&lib, &lib_facts));
        }
        return interpreter(exe, Some(lib.clone()), &lib, lib_facts).map(Some);
    }
    if facts.exports_python {
        if facts.free_threaded {
            return interpreter(exe, None, read_path, facts).map(Some);
        }
        return Err(untraceable(exe, &facts));
    }
    Ok(None)
}

/// `path` with `dir/..` pairs taken out (`…/bin/../lib` → `…/lib`), so
/// messages and the summary name the library as a user would. Lexical is
/// right here: `$ORIGIN` is the executable's resolved directory.
fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn interpreter(
    exe: &Path,
    library: Option<PathBuf>,
    probe_file: &Path,
    facts: ElfFacts,
) -> Result<Interpreter, TraceError> {
    if facts.drop_gil.is_empty() && !facts.free_threaded {
        return Err(TraceError::NoGilSymbols {
            file: probe_file.to_path_buf(),
        });
    }
    let version = facts
        .version
        .or_else(|| version_hint(probe_file))
        .or_else(|| version_hint(exe))
        .unwrap_or_else(|| "3.?".to_string());
    // A free-threaded build's take_gil is never probed: its GIL is off.
    let (take_gil, drop_gil) = if facts.free_threaded {
        (Vec::new(), Vec::new())
    } else {
        (facts.take_gil, facts.drop_gil)
    };
    Ok(Interpreter {
        executable: exe.to_path_buf(),
        library,
        version,
        probe_file: probe_file.to_path_buf(),
        take_gil,
        drop_gil,
        gil_disabled: facts.free_threaded,
        symbols: (!facts.free_threaded).then_some(facts.source).flatten(),
    })
}

/// The error for an interpreter file (with the GIL) without a usable
/// `take_gil`.
fn untraceable(file: &Path, facts: &ElfFacts) -> TraceError {
    let file = file.to_path_buf();
    let version = facts.version.clone().or_else(|| version_hint(&file));
    if version.as_deref().is_some_and(|v| v.starts_with("2.")) {
        TraceError::Python2 { file }
    } else if !facts.has_symtab {
        TraceError::NoSymbolTable {
            tried: facts.tried.clone().unwrap_or_default(),
            hint: hint::debug_symbols_hint(&file),
            file,
        }
    } else {
        TraceError::NoGilSymbols { file }
    }
}

/// What `path` says about Python; `named` is the file's own name (`path`
/// may be `/proc/PID/exe`), from which the version and build are hinted.
/// An interpreter with the GIL but no symbol table gets its `take_gil`
/// looked for the other ways ([`symbols::find`]).
fn elf_facts(path: &Path, named: &Path, lookup: &Lookup) -> Result<ElfFacts, TraceError> {
    let data = std::fs::read(path).map_err(|source| TraceError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let Ok(file) = ElfFile64::<Endianness>::parse(&*data) else {
        // A script, a 32-bit binary, anything else: not an interpreter we know.
        return Ok(ElfFacts::default());
    };
    let mut facts = ElfFacts {
        has_symtab: file.symbol_table().is_some(),
        ..ElfFacts::default()
    };
    let (take_gil, drop_gil) = names::gil_offsets(&file, &file);
    facts.take_gil = take_gil;
    facts.drop_gil = drop_gil;
    if !facts.take_gil.is_empty() {
        facts.source = Some(SymbolSource::Symtab);
    }
    let mut py_version_at = None;
    for symbol in file.symbols().chain(file.dynamic_symbols()) {
        let Ok(name) = symbol.name() else { continue };
        match name {
            "Py_Initialize" | "Py_GetVersion" | "Py_Main" => {
                facts.exports_python |= symbol.is_definition();
            }
            "Py_Version" if symbol.is_definition() => py_version_at = Some(symbol.address()),
            // Biased reference counting: exported by free-threaded builds only.
            "_Py_MergeZeroLocalRefcount" | "_Py_DecRefShared" if symbol.is_definition() => {
                facts.free_threaded = true;
            }
            _ => {}
        }
    }
    facts.version = py_version_at
        .and_then(|addr| read_u32_at(&file, addr))
        .map(format_hex_version)
        .or_else(|| rodata_version(&file, version_hint(named).as_deref()));
    facts.free_threaded |= abi_flags(named).contains('t') || says_free_threading(&file);
    read_dynamic(&file, &mut facts);
    let python2 = facts
        .version
        .as_deref()
        .is_some_and(|v| v.starts_with("2."))
        || version_hint(named).is_some_and(|v| v.starts_with("2."));
    if !facts.has_symtab && facts.exports_python && !facts.free_threaded && !python2 {
        match symbols::find(named, &data, lookup) {
            Ok(found) => {
                facts.take_gil = found.take_gil;
                facts.drop_gil = found.drop_gil;
                facts.source = Some(found.source);
            }
            Err(tried) => facts.tried = Some(tried),
        }
    }
    if !facts.take_gil.is_empty() && !facts.free_threaded {
        for offset in symbols::inlined_releasers(&file) {
            if !facts.drop_gil.contains(&offset) {
                facts.drop_gil.push(offset);
            }
        }
    }
    Ok(facts)
}

/// `DT_NEEDED` names and `DT_RUNPATH`/`DT_RPATH` directories.
fn read_dynamic(file: &ElfFile64<Endianness>, facts: &mut ElfFacts) {
    let endian = file.endian();
    let table = file.elf_section_table();
    let Ok(Some((entries, link))) = table.dynamic(endian, file.data()) else {
        return;
    };
    let Ok(strings) = table.strings(endian, file.data(), link) else {
        return;
    };
    let (mut rpath, mut runpath) = (Vec::new(), Vec::new());
    for entry in entries {
        let tag = entry.tag(endian);
        let Ok(value) = entry.string(endian, strings) else {
            continue;
        };
        let value = String::from_utf8_lossy(value).into_owned();
        let dirs = value.split(':').filter(|d| !d.is_empty()).map(String::from);
        match tag {
            object::elf::DT_NEEDED => facts.needed.push(value),
            object::elf::DT_RUNPATH => runpath.extend(dirs),
            object::elf::DT_RPATH => rpath.extend(dirs),
            _ => {}
        }
    }
    facts.runpath = !runpath.is_empty();
    facts.search_dirs = if facts.runpath { runpath } else { rpath };
}

fn read_u32_at(file: &ElfFile64<Endianness>, addr: u64) -> Option<u32> {
    file.sections().find_map(|section| {
        let bytes = section.data_range(addr, 4).ok()??;
        Some(u32::from_le_bytes(bytes.try_into().ok()?))
    })
}

/// `PY_VERSION_HEX` as `3.11.7` (or `3.13.0rc2` before a final release).
fn format_hex_version(hex: u32) -> String {
    let (major, minor, micro) = (hex >> 24, (hex >> 16) & 0xff, (hex >> 8) & 0xff);
    let serial = hex & 0xf;
    let level = match (hex >> 4) & 0xf {
        0xa => format!("a{serial}"),
        0xb => format!("b{serial}"),
        0xc => format!("rc{serial}"),
        _ => String::new(),
    };
    format!("{major}.{minor}.{micro}{level}")
}

/// Before 3.11 there is no `Py_Version`: look for the `PY_VERSION` string
/// literal (`"3.9.18"`) in `.rodata`, matching the major.minor of the file
/// name. The linker merges string tails, so the literal may be the end of a
/// longer string (`".../versions/3.9.18"`): the last token of each counts.
fn rodata_version(file: &ElfFile64<Endianness>, hint: Option<&str>) -> Option<String> {
    let hint = hint?;
    let rodata = file.section_by_name(".rodata")?.data().ok()?;
    let prefix = format!("{hint}.");
    rodata.split(|&b| b == 0).find_map(|chunk| {
        let token_start = chunk
            .iter()
            .rposition(|b| !(b.is_ascii_alphanumeric() || *b == b'.' || *b == b'+'))
            .map_or(0, |i| i + 1);
        let text = std::str::from_utf8(&chunk[token_start..]).ok()?;
        let rest = text.strip_prefix(&prefix)?;
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let tail = &rest[digits..];
        let ok = digits > 0
            && tail.len() <= 4
            && tail.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+');
        ok.then(|| text.to_string())
    })
}

/// The ABI flags after the version in a file name: `t` (free-threaded)
/// from `python3.13t` and `libpython3.13t.so.1.0`, `td` from
/// `python3.13td`, `m` from `libpython3.6m.so`; empty for `python3.11`.
fn abi_flags(path: &Path) -> String {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return String::new();
    };
    let Some(at) = name.find("python") else {
        return String::new();
    };
    let rest = &name[at + "python".len()..];
    let version = rest
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    if !rest[..version].contains('.') {
        return String::new();
    }
    let flags: String = rest[version..]
        .chars()
        .take_while(char::is_ascii_lowercase)
        .collect();
    // The flags end the name or come before `.so` / `-config`.
    let after = &rest[version + flags.len()..];
    if after.is_empty() || after.starts_with(".so") {
        flags
    } else {
        String::new()
    }
}

/// `Py_GetVersion`'s text in a free-threaded build: "3.13.0 experimental
/// free-threading build (…)" (3.14: "free-threading build").
fn says_free_threading(file: &ElfFile64<Endianness>) -> bool {
    const MARK: &[u8] = b"free-threading build";
    file.section_by_name(".rodata")
        .and_then(|section| section.data().ok())
        .is_some_and(|data| data.windows(MARK.len()).any(|w| w == MARK))
}

/// `3.11` from `python3.11`, `libpython3.11.so.1.0`, `libpython3.6m.so`.
pub(crate) fn version_hint(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let rest = &name[name.find("python")? + "python".len()..];
    let len = rest
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    let version = rest[..len].trim_end_matches('.');
    version.contains('.').then(|| version.to_string())
}

/// Finds library `name` the way the dynamic loader would for a program
/// about to start (ld.so(8)): its `DT_RPATH` dirs, `LD_LIBRARY_PATH` from
/// its environment, its `DT_RUNPATH` dirs (`runpath`: `dirs` are these,
/// else they are `DT_RPATH`'s), then the system directories. What it finds
/// is checked against what the program then maps (`launch`).
pub(crate) fn search_library(
    name: &str,
    dirs: &[PathBuf],
    runpath: bool,
    ld_library_path: Option<&str>,
) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if !runpath {
        candidates.extend(dirs.iter().cloned());
    }
    if let Some(paths) = ld_library_path {
        candidates.extend(
            paths
                .split(':')
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
        );
    }
    if runpath {
        candidates.extend(dirs.iter().cloned());
    }
    candidates.extend(
        [
            "/lib",
            "/usr/lib",
            "/lib64",
            "/usr/lib64",
            "/usr/local/lib",
            "/lib/x86_64-linux-gnu",
            "/usr/lib/x86_64-linux-gnu",
            "/lib/aarch64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
        ]
        .map(PathBuf::from),
    );
    if let Ok(dir) = std::fs::read_dir("/etc/ld.so.conf.d") {
        for entry in dir.flatten() {
            if let Ok(text) = std::fs::read_to_string(entry.path()) {
                candidates.extend(
                    text.lines()
                        .map(str::trim)
                        .filter(|l| l.starts_with('/'))
                        .map(PathBuf::from),
                );
            }
        }
    }
    candidates
        .into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
#[path = "interp_elf_tests.rs"]
mod elf_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_relative_directories_are_tidied() {
        assert_eq!(
            tidy(Path::new("/root/.pyenv/versions/3.11.7/bin/../lib")),
            Path::new("/root/.pyenv/versions/3.11.7/lib")
        );
        assert_eq!(tidy(Path::new("/../lib/./x")), Path::new("/../lib/x"));
    }

    #[test]
    fn abi_flags_come_from_the_file_name() {
        for (name, flags) in [
            ("/usr/bin/python3.13t", "t"),
            ("/x/lib/libpython3.13t.so.1.0", "t"),
            ("/x/lib/libpython3.14td.so", "td"),
            ("/x/libpython3.6m.so.1.0", "m"),
            ("/usr/bin/python3.11", ""),
            ("/x/lib/libpython3.11.so.1.0", ""),
            ("/usr/bin/python3", ""),
            ("/usr/bin/python3.13-config", ""),
            ("/opt/pythonista", ""),
        ] {
            assert_eq!(abi_flags(Path::new(name)), flags, "{name}");
        }
    }

    #[test]
    fn versions_read_from_hex_and_file_names() {
        assert_eq!(format_hex_version(0x030B07F0), "3.11.7");
        assert_eq!(format_hex_version(0x030D00C2), "3.13.0rc2");
        assert_eq!(
            version_hint(Path::new("/x/libpython3.6m.so.1.0")).as_deref(),
            Some("3.6")
        );
        assert_eq!(
            version_hint(Path::new("/usr/bin/python3.11")).as_deref(),
            Some("3.11")
        );
        assert_eq!(version_hint(Path::new("/usr/bin/python3")), None);
        assert_eq!(version_hint(Path::new("/bin/bash")), None);
    }

    /// `DT_RPATH` is searched before `LD_LIBRARY_PATH`, `DT_RUNPATH` after.
    #[test]
    fn rpath_comes_before_ld_library_path_and_runpath_after() {
        let root = std::env::temp_dir().join(format!("threadlab-ldorder-{}", std::process::id()));
        let (own, env) = (root.join("own"), root.join("env"));
        for dir in [&own, &env] {
            std::fs::create_dir_all(dir).expect("mkdir");
            std::fs::write(dir.join("libpython9.9.so.1.0"), b"").expect("write");
        }
        let env_path = env.to_string_lossy().into_owned();
        let find = |runpath| {
            search_library(
                "libpython9.9.so.1.0",
                std::slice::from_ref(&own),
                runpath,
                Some(&env_path),
            )
        };
        assert_eq!(
            find(false),
            Some(own.join("libpython9.9.so.1.0")),
            "RPATH first"
        );
        assert_eq!(
            find(true),
            Some(env.join("libpython9.9.so.1.0")),
            "RUNPATH after"
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_non_python_binary_is_not_an_interpreter() {
        let exe = std::env::current_exe().expect("test binary path");
        let none = |_: &str, _: &[PathBuf], _: bool| None;
        assert_eq!(classify(&exe, &exe, &none).expect("readable ELF"), None);
    }

    /// Every pyenv interpreter on this machine (if any): 3.x is found with
    /// its exact version through `DT_NEEDED` + `RUNPATH`; 2.7 is refused.
    #[test]
    fn pyenv_interpreters_are_recognised_with_their_versions() {
        let Ok(dir) = std::fs::read_dir("/root/.pyenv/versions") else {
            eprintln!("skipped: no pyenv versions");
            return;
        };
        let resolve =
            |name: &str, dirs: &[PathBuf], runpath: bool| search_library(name, dirs, runpath, None);
        for version_dir in dir.flatten().map(|e| e.path()) {
            let version = version_dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string();
            let minor: String = version.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
            let exe = version_dir.join("bin").join(format!("python{minor}"));
            if !exe.is_file() {
                continue;
            }
            match classify(&exe, &exe, &resolve) {
                Ok(Some(python)) => {
                    assert_eq!(python.version, version, "{}", exe.display());
                    assert!(!python.take_gil.is_empty() && !python.drop_gil.is_empty());
                }
                Err(TraceError::Python2 { .. }) => assert!(version.starts_with("2.")),
                other => panic!("{}: {other:?}", exe.display()),
            }
        }
    }
}

//! Where `take_gil` and `drop_gil` are in an interpreter file without a
//! symbol table (a stripped build), tried in this order:
//!
//! 1. `symtab` — the file's own `.symtab` (read by `interp`, not here);
//! 2. `debug-file` — a separate debug file: `<root>/.build-id/xx/rest.debug`
//!    by the file's GNU build id, or the file named by `.gnu_debuglink`
//!    beside it, in `.debug/` beside it or under `<root>/<its directory>`
//!    (CRC checked) — what `apt install python3.X-dbg` or a distribution's
//!    `-dbgsym`/`-debuginfo` package installs ([`debugfile`]);
//! 3. `debuginfod` — only with `DEBUGINFOD_URLS` set: the debug file
//!    downloaded by build id and cached ([`debuginfod`]);
//! 4. `minidebuginfo` — `.gnu_debugdata`, the xz-compressed symbol table of
//!    static functions Fedora keeps in the file itself ([`minidebuginfo`]);
//! 5. `disassembly` — x86-64 only: from the exported `PyEval_RestoreThread`
//!    and `PyEval_SaveThread`, following direct calls, accepting only what
//!    passes checks of its shape, else refusing ([`disasm`]).
//!
//! Each way that fails says why in one short clause; the refusal joins them.

mod debugfile;
mod debuginfod;
mod disasm;
pub(crate) mod hint;
mod minidebuginfo;
pub(crate) mod names;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use object::read::elf::ElfFile64;
use object::{Endianness, Object};
use serde::Serialize;

/// How the probes' addresses were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SymbolSource {
    /// The file's own symbol table.
    Symtab,
    /// A separate debug file (by build id or `.gnu_debuglink`).
    DebugFile,
    /// A debug file downloaded from a debuginfod server.
    Debuginfod,
    /// The file's MiniDebugInfo (`.gnu_debugdata`).
    Minidebuginfo,
    /// Disassembly of the exported C API (x86-64).
    Disassembly,
}

impl SymbolSource {
    /// The name used in `--json` and the header: `symtab`, `debug-file`, …
    pub fn name(self) -> &'static str {
        match self {
            SymbolSource::Symtab => "symtab",
            SymbolSource::DebugFile => "debug-file",
            SymbolSource::Debuginfod => "debuginfod",
            SymbolSource::Minidebuginfo => "minidebuginfo",
            SymbolSource::Disassembly => "disassembly",
        }
    }
}

impl fmt::Display for SymbolSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where to look beyond the file itself.
#[derive(Debug, Clone)]
pub(crate) struct Lookup {
    /// Roots of separate debug files (`/usr/lib/debug`).
    pub debug_roots: Vec<PathBuf>,
    /// debuginfod servers (`DEBUGINFOD_URLS`, space-separated); empty: none.
    pub debuginfod_urls: Vec<String>,
    /// Where downloads are cached: `…/threadlab/debuginfod` under the
    /// user's cache directory (`None`: no cache directory known).
    pub cache_dir: Option<PathBuf>,
    /// The whole download's time limit (`DEBUGINFOD_TIMEOUT` seconds, 90).
    pub timeout: Duration,
}

impl Lookup {
    /// The system's: `/usr/lib/debug`, `DEBUGINFOD_URLS`,
    /// `$XDG_CACHE_HOME` (else `~/.cache`) `/threadlab/debuginfod`.
    pub(crate) fn from_env() -> Lookup {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let cache = var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".cache")));
        Lookup {
            debug_roots: vec![PathBuf::from("/usr/lib/debug")],
            debuginfod_urls: var("DEBUGINFOD_URLS")
                .map(|urls| {
                    urls.to_string_lossy()
                        .split_whitespace()
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            cache_dir: cache.map(|c| c.join("threadlab").join("debuginfod")),
            timeout: var("DEBUGINFOD_TIMEOUT")
                .and_then(|t| t.to_string_lossy().trim().parse::<u64>().ok())
                .filter(|&s| s > 0)
                .map_or(Duration::from_secs(90), Duration::from_secs),
        }
    }
}

/// `take_gil`/`drop_gil` file offsets of a stripped file, and how found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// Every entry copy of `take_gil`, file offsets, sorted.
    pub take_gil: Vec<u64>,
    /// Every entry copy of `drop_gil`, file offsets, sorted.
    pub drop_gil: Vec<u64>,
    /// Which way found them.
    pub source: SymbolSource,
}

/// Looks for `take_gil`/`drop_gil` of the ELF file `data` (whose real path
/// is `named`) the ways after `symtab`, in order. `Err`: each way's one
/// clause of why not, joined with `; `.
pub(crate) fn find(named: &Path, data: &[u8], lookup: &Lookup) -> Result<Found, String> {
    let file = ElfFile64::<Endianness>::parse(data).map_err(|e| format!("not ELF: {e}"))?;
    let mut tried = Vec::new();
    let from_debug = |debug: &[u8], source: SymbolSource| -> Result<Found, String> {
        let debug = ElfFile64::<Endianness>::parse(debug)
            .map_err(|e| format!("{source}: not ELF ({e})"))?;
        let (take_gil, drop_gil) = names::gil_offsets(&debug, &file);
        if take_gil.is_empty() || drop_gil.is_empty() {
            return Err(format!("{source}: its symbols have no take_gil/drop_gil"));
        }
        Ok(Found {
            take_gil,
            drop_gil,
            source,
        })
    };
    let attempts: [&dyn Fn() -> Result<Found, String>; 4] = [
        &|| {
            let debug = debugfile::find(named, &file, &lookup.debug_roots)
                .map_err(|e| format!("debug-file: {e}"))?;
            from_debug(&debug, SymbolSource::DebugFile)
        },
        &|| {
            let debug = debuginfod::fetch(&file, lookup).map_err(|e| format!("debuginfod: {e}"))?;
            from_debug(&debug, SymbolSource::Debuginfod)
        },
        &|| {
            let mini = minidebuginfo::symbols(&file).map_err(|e| format!("minidebuginfo: {e}"))?;
            from_debug(&mini, SymbolSource::Minidebuginfo)
        },
        &|| {
            let (take, drop) = disasm::find(&file).map_err(|e| format!("disassembly: {e}"))?;
            let offsets = |addrs: Vec<u64>| -> Result<Vec<u64>, String> {
                let mut out = addrs
                    .into_iter()
                    .map(|a| {
                        names::file_offset(&file, a)
                            .ok_or_else(|| format!("disassembly: {a:#x} is in no segment"))
                    })
                    .collect::<Result<Vec<u64>, String>>()?;
                out.sort_unstable();
                Ok(out)
            };
            Ok(Found {
                take_gil: offsets(take)?,
                drop_gil: offsets(drop)?,
                source: SymbolSource::Disassembly,
            })
        },
    ];
    for attempt in attempts {
        match attempt() {
            Ok(found) => return Ok(found),
            Err(why) => tried.push(why),
        }
    }
    Err(tried.join("; "))
}

/// How the GIL functions of the ELF file at `path` are found, the way a
/// trace finds them (its own symbol table first, then the other ways, as
/// configured by the environment), with how many `take_gil` and
/// `drop_gil` copies: for benchmarks and diagnostics. `Err`: why not.
pub fn locate(path: &Path) -> Result<(SymbolSource, usize, usize), String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file = ElfFile64::<Endianness>::parse(&*data).map_err(|e| format!("not ELF: {e}"))?;
    let (take, drop) = names::gil_offsets(&file, &file);
    if !take.is_empty() {
        return Ok((SymbolSource::Symtab, take.len(), drop.len()));
    }
    let found = find(path, &data, &Lookup::from_env())?;
    Ok((found.source, found.take_gil.len(), found.drop_gil.len()))
}

/// File offsets of the exported functions that always release the GIL
/// and have `drop_gil` inlined (x86-64; empty elsewhere): probed as
/// `drop_gil` entries besides `drop_gil`'s own copies, whichever way those
/// were found — else a thread blocked in I/O after `PyEval_SaveThread`
/// would look like it still held the GIL.
pub(crate) fn inlined_releasers(file: &ElfFile64<Endianness>) -> Vec<u64> {
    disasm::inlined_releasers(file)
        .into_iter()
        .filter_map(|addr| names::file_offset(file, addr))
        .collect()
}

/// The lowercase hex of the file's GNU build id, if it has one.
pub(crate) fn build_id_hex(file: &ElfFile64<Endianness>) -> Option<String> {
    let id = file.build_id().ok()??;
    (!id.is_empty()).then(|| id.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod debian_tests;

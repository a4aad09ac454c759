//! Which symbols are `take_gil`/`drop_gil` *function entries*, and their
//! file offsets read from a symbol table (the file's own, a separate debug
//! file's or MiniDebugInfo's).
//!
//! GCC names the copies it makes of a static function with suffixes, and
//! not every copy may carry a probe:
//!
//! * `.constprop.N` (a constant argument propagated), `.isra.N` (arguments
//!   passed by value instead of by pointer), `.lto_priv.N` (a static
//!   function renamed by link-time optimisation, as Debian's build has it)
//!   are whole functions with their own callers: each is entered by `call`
//!   and returns to its caller. Every one is probed.
//! * `.cold` / `.cold.N` is the unlikely part of a function split off by
//!   `-freorder-blocks-and-partition`: it is entered by a *jump* from the
//!   middle of its function, with that function's stack frame in place.
//!   A return probe there would take whatever the stack slot holds for a
//!   return address and overwrite it: it corrupts the traced program. An
//!   entry probe would count the same take twice. Never probed.
//! * `.part.N` is what partial inlining (`-fipa-split`) leaves out of
//!   line: the function's head — its fast path — is inlined into every
//!   caller, which calls `take_gil.part.0` for the rest. It is entered by
//!   `call`, so a probe would not corrupt anything, but it is not
//!   `take_gil`: takes that stay on the inlined fast path never reach it,
//!   and a wait would be timed from the middle of `take_gil`; where
//!   `take_gil` itself also exists, it calls its `.part` and both would
//!   fire, counting each take twice. Not probed: a build whose only copy
//!   is a `.part` is refused as one without usable `take_gil`.
//! * Anything else (a suffix this list does not know) is not probed either:
//!   a missed copy loses events, a wrong one can corrupt the program.

use object::read::elf::ElfFile64;
use object::{Endianness, Object, ObjectSegment, ObjectSymbol, SymbolKind};

/// Which of the two GIL functions a symbol is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GilFunction {
    /// `take_gil` or one of its entry copies.
    Take,
    /// `drop_gil` or one of its entry copies.
    Drop,
}

/// `Some` when `name` is the entry of `take_gil`/`drop_gil` or of a whole
/// copy of it (see the module comment for which suffixes count).
pub(crate) fn gil_function(name: &str) -> Option<GilFunction> {
    let (which, rest) = if let Some(rest) = name.strip_prefix("take_gil") {
        (GilFunction::Take, rest)
    } else if let Some(rest) = name.strip_prefix("drop_gil") {
        (GilFunction::Drop, rest)
    } else {
        return None;
    };
    entry_suffix(rest).then_some(which)
}

/// True for `""` and for any chain of `.constprop.N`, `.isra.N`,
/// `.lto_priv.N` (each N decimal).
fn entry_suffix(rest: &str) -> bool {
    let mut parts = rest.split('.');
    // `rest` is empty or starts with '.': the first part is empty.
    if parts.next() != Some("") {
        return false;
    }
    let parts: Vec<&str> = parts.collect();
    if !parts.len().is_multiple_of(2) {
        return false;
    }
    parts.chunks(2).all(|pair| {
        matches!(pair[0], "constprop" | "isra" | "lto_priv")
            && !pair[1].is_empty()
            && pair[1].bytes().all(|b| b.is_ascii_digit())
    })
}

/// File offsets of `take_gil` and `drop_gil` (every entry copy, no
/// fragment) in `original`, from the symbols of `symbols`: the same file,
/// or a debug file made from it. A debug file's symbols are virtual
/// addresses of the original, so they are mapped through the original's
/// `PT_LOAD` segments (a debug file's own segments have no file contents).
pub(crate) fn gil_offsets(
    symbols: &ElfFile64<Endianness>,
    original: &ElfFile64<Endianness>,
) -> (Vec<u64>, Vec<u64>) {
    let (mut take, mut drop) = (Vec::new(), Vec::new());
    for symbol in symbols.symbols().chain(symbols.dynamic_symbols()) {
        if symbol.kind() != SymbolKind::Text || !symbol.is_definition() {
            continue;
        }
        let Ok(name) = symbol.name() else { continue };
        let list = match gil_function(name) {
            Some(GilFunction::Take) => &mut take,
            Some(GilFunction::Drop) => &mut drop,
            None => continue,
        };
        if let Some(offset) = file_offset(original, symbol.address())
            && !list.contains(&offset)
        {
            list.push(offset);
        }
    }
    take.sort_unstable();
    drop.sort_unstable();
    (take, drop)
}

/// The file offset of virtual address `addr`: through the `PT_LOAD`
/// segment that contains it.
pub(crate) fn file_offset(file: &ElfFile64<Endianness>, addr: u64) -> Option<u64> {
    file.segments().find_map(|segment| {
        let (offset, size) = segment.file_range();
        let start = segment.address();
        (addr >= start && addr < start + size).then(|| offset + (addr - start))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What GCC 12 emits here (pyenv's and Debian's builds): entries are
    /// probed, fragments and partial bodies never.
    #[test]
    fn only_function_entries_are_gil_functions() {
        for name in [
            "take_gil",
            "take_gil.constprop.0",
            "take_gil.isra.0",
            "take_gil.lto_priv.0",
            "take_gil.constprop.0.isra.0",
            "take_gil.lto_priv.12",
        ] {
            assert_eq!(gil_function(name), Some(GilFunction::Take), "{name}");
        }
        assert_eq!(gil_function("drop_gil"), Some(GilFunction::Drop));
        assert_eq!(gil_function("drop_gil.lto_priv.0"), Some(GilFunction::Drop));
        for name in [
            "take_gil.cold",
            "take_gil.cold.3",
            "take_gil.lto_priv.0.cold",
            "drop_gil.lto_priv.0.cold",
            "take_gil.part.0",
            "take_gil.constprop.0.part.0",
            "take_gil.part.0.cold",
            "take_gil.localalias",
            "take_gil.constprop",
            "take_gil.constprop.x",
            "take_gil2",
            "take_gil_x",
            "take_gilx.constprop.0",
            "drop_gil.",
            "create_gil.lto_priv.0",
            "init_interp_create_gil.lto_priv.0",
            "_take_gil",
        ] {
            assert_eq!(gil_function(name), None, "{name}");
        }
    }
}

//! Separate debug files, found the way gdb finds them: by GNU build id
//! under each debug root (`<root>/.build-id/xx/rest.debug`), then by the
//! name in `.gnu_debuglink` beside the file, in `.debug/` beside it, and
//! under `<root>/<the file's directory>`. A build-id match is checked
//! against the debug file's own build id, a debuglink match against the
//! CRC32 the link carries: a debug file of another build would put probes
//! at wrong addresses.

use std::path::{Path, PathBuf};

use object::read::elf::ElfFile64;
use object::{Endianness, Object};

use super::build_id_hex;

/// The contents of the debug file for `file` (at path `named`), or why
/// none was found (one clause naming where it looked).
pub(super) fn find(
    named: &Path,
    file: &ElfFile64<Endianness>,
    roots: &[PathBuf],
) -> Result<Vec<u8>, String> {
    let mut looked = Vec::new();
    let build_id = build_id_hex(file);
    if let Some(id) = build_id.as_deref().filter(|id| id.len() > 2) {
        for root in roots {
            let path = root
                .join(".build-id")
                .join(&id[..2])
                .join(format!("{}.debug", &id[2..]));
            if let Some(data) = read(&path) {
                if same_build(&data, id) {
                    return Ok(data);
                }
                looked.push(format!("{} (another build)", path.display()));
            } else {
                looked.push(path.display().to_string());
            }
        }
    }
    if let Ok(Some((name, crc))) = file.gnu_debuglink() {
        let name = String::from_utf8_lossy(name).into_owned();
        for path in debuglink_places(named, &name, roots) {
            let Some(data) = read(&path) else { continue };
            if crc32fast::hash(&data) == crc {
                return Ok(data);
            }
            looked.push(format!("{} (CRC mismatch)", path.display()));
        }
        looked.push(format!(
            "{name} (.gnu_debuglink) beside it or under the debug roots"
        ));
    }
    if looked.is_empty() {
        return Err(if build_id.is_none() {
            "no build id and no .gnu_debuglink".into()
        } else {
            "no debug directory to look in".into()
        });
    }
    Err(format!("none at {}", looked.join(", ")))
}

/// Where a `.gnu_debuglink` name is looked for, in gdb's order.
fn debuglink_places(named: &Path, name: &str, roots: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs = vec![named.parent().map(Path::to_path_buf).unwrap_or_default()];
    if let Ok(real) = named.canonicalize()
        && let Some(dir) = real.parent()
        && !dirs.iter().any(|d| d == dir)
    {
        dirs.push(dir.to_path_buf());
    }
    let mut places = Vec::new();
    for dir in &dirs {
        places.push(dir.join(name));
        places.push(dir.join(".debug").join(name));
    }
    for root in roots {
        for dir in &dirs {
            let rel = dir.strip_prefix("/").unwrap_or(dir);
            places.push(root.join(rel).join(name));
        }
    }
    places
}

fn read(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

/// True when `data` is an ELF file whose build id is `id`.
pub(super) fn same_build(data: &[u8], id: &str) -> bool {
    ElfFile64::<Endianness>::parse(data)
        .ok()
        .and_then(|debug| build_id_hex(&debug))
        .is_some_and(|own| own == id)
}

//! MiniDebugInfo: the `.gnu_debugdata` section Fedora (and others) keep in
//! a stripped file — an xz-compressed ELF file whose `.symtab` lists the
//! functions the dynamic symbol table does not (the static ones, such as
//! `take_gil`), at the original file's addresses.

use std::io::Write;

use object::read::elf::ElfFile64;
use object::{Endianness, Object, ObjectSection};

/// At most this much decompressed (a real one is a few hundred KiB): a
/// corrupt or hostile section must not fill the memory.
const LIMIT: usize = 256 << 20;

/// The decompressed ELF file of `file`'s `.gnu_debugdata`, or why none.
pub(super) fn symbols(file: &ElfFile64<Endianness>) -> Result<Vec<u8>, String> {
    let section = file
        .section_by_name(".gnu_debugdata")
        .ok_or("no .gnu_debugdata")?;
    let packed = section
        .data()
        .map_err(|e| format!(".gnu_debugdata unreadable ({e})"))?;
    let mut out = Limited(Vec::new());
    lzma_rs::xz_decompress(&mut std::io::Cursor::new(packed), &mut out)
        .map_err(|e| format!(".gnu_debugdata is not valid xz ({e})"))?;
    Ok(out.0)
}

/// A `Vec` that refuses to grow past [`LIMIT`].
struct Limited(Vec<u8>);

impl Write for Limited {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > LIMIT {
            return Err(std::io::Error::other("over 256 MiB decompressed"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

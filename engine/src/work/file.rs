//! The file worker: write, fsync, rename, read back, verify, delete.
//!
//! The file is written as `file-N.part` in 1 MiB blocks, synced, renamed to
//! `file-N.bin`, read back and its SHA-256 compared with what was written,
//! then deleted. Each syscall runs with the GIL released; filling and hashing
//! a block runs with it held. Whatever happens — success, error, cancel,
//! panic — a guard removes both names, so nothing is left behind.
//!
//! Where the file system allows it, both the writes and the read-back use
//! direct I/O (`O_DIRECT`): the data goes between the worker's own buffer and
//! the disk without passing through the page cache. So the read-back checks
//! what is on the disk, not a cached copy, and many file workers do not fill
//! gigabytes of fresh page cache. On a virtual machine every fresh guest page
//! costs the host a page fault charged to the VM; 16 buffered writers made the
//! host take the VM's cores away for tens of milliseconds at a time (see
//! BENCHMARKS.md). File systems without direct I/O (tmpfs on older kernels)
//! fall back to buffered I/O with a flush every [`SYNC_EVERY`] bytes.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
type Sha256Output = sha2::digest::Output<Sha256>;

use super::{WorkError, WorkerCtx, human_bytes, short_hex};

const BLOCK: usize = 1 << 20;

/// Direct I/O needs the buffer address, the file offset and the length to be
/// multiples of the device's logical block size; 4 KiB covers common devices.
const ALIGN: usize = 4096;

/// A [`BLOCK`]-sized buffer whose start is [`ALIGN`]-aligned (over-allocated
/// and sliced, so no unsafe allocation is needed).
struct AlignedBlock {
    buf: Vec<u8>,
    start: usize,
}

impl AlignedBlock {
    fn new() -> Self {
        let buf = vec![0u8; BLOCK + ALIGN];
        // `align_offset` may in principle decline (usize::MAX); an unaligned
        // buffer only makes direct I/O fail, which falls back to buffered.
        let start = buf.as_ptr().align_offset(ALIGN).min(ALIGN);
        Self { buf, start }
    }

    fn block(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + BLOCK]
    }
}

/// Turns direct I/O on or off for `file`; `Err` when the file system (or the
/// buffer alignment) does not allow it.
fn set_direct(file: &File, on: bool) -> std::io::Result<()> {
    let flags = fcntl_getfl(file)?;
    let flags = if on {
        flags | OFlags::DIRECT
    } else {
        flags - OFlags::DIRECT
    };
    fcntl_setfl(file, flags)?;
    Ok(())
}

/// With buffered I/O, a file worker flushes what it wrote every this many bytes. Without it, many
/// file workers pile up gigabytes of dirty pages that the kernel then writes
/// back in one burst from its own (full-priority) threads, stalling the
/// dashboard for tens to hundreds of milliseconds; flushing as it goes keeps
/// that work in the worker's own, lower-priority thread.
const SYNC_EVERY: u64 = 8 << 20;

/// A file worker checks the eval breaker (cancel, drop request) after this
/// many bytes of filling or hashing (~0.4 ms of CPU), so a cancel or a GIL
/// drop request is served promptly even inside a 1 MiB block.
///
/// It does not also yield its core there. It once did (to let a waking UI
/// thread in sooner), but 16 file workers yielding every ~0.15 ms while
/// also blocking on disk I/O made the scheduler leave *other* sessions'
/// tasks — the terminal, and the kernel worker that moves a pty's output
/// to it — queued for 40–140 ms now and then; measured in BENCHMARKS.md
/// (free64 with a real-time harness: max 21–65 ms in 3 of 5 runs with the
/// yield, ≤ 13 ms in 5 runs without). The workers' lower priority already
/// lets the UI in.
const SLICE: usize = 256 << 10;

/// Hashes `data` in slices of [`SLICE`], with an eval-breaker check between them.
fn hash_in_slices(ctx: &mut WorkerCtx, hash: &mut Sha256, data: &[u8]) -> Result<(), WorkError> {
    for slice in data.chunks(SLICE) {
        hash.update(slice);
        ctx.gil.check()?;
    }
    Ok(())
}

/// Removes the listed paths when dropped (missing ones are fine).
struct RemoveOnDrop(Vec<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = fs::remove_file(path);
        }
    }
}

fn io_failed(what: &str, path: &Path, error: std::io::Error) -> WorkError {
    WorkError::Failed(format!("{what} {}: {error}", path.display()))
}

/// Fills `block` with bytes that depend on the worker and the block number.
fn fill(block: &mut [u8], seed: u64) {
    let mut x = seed | 1;
    for chunk in block.chunks_mut(8) {
        x = super::cpu::xorshift64(x);
        let bytes = x.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

/// The two names a file worker uses, and the guard that removes those of
/// them it created.
struct Names {
    /// `file-N.part`: written, synced, then linked to [`Names::done`].
    part: PathBuf,
    /// `file-N.bin`: read back, verified, deleted.
    done: PathBuf,
    /// Only what this worker created is ever removed: a name armed after it
    /// was made, never before (a user's own file of that name stays).
    cleanup: RemoveOnDrop,
}

/// Runs one file worker: writes `file-N.part`, publishes it as
/// `file-N.bin`, reads it back, checks its SHA-256 and deletes it; returns
/// the bytes moved and a one-line summary.
pub(super) fn run(ctx: &mut WorkerCtx) -> Result<(u64, String), WorkError> {
    let size = ctx.settings.file_bytes;
    let dir = ctx.settings.workdir.clone();
    let mut names = Names {
        part: dir.join(format!("file-{}.part", ctx.id)),
        done: dir.join(format!("file-{}.bin", ctx.id)),
        cleanup: RemoveOnDrop(Vec::new()),
    };
    ctx.report.set_total(Some(size * 2));

    let mut aligned = AlignedBlock::new();
    let block = aligned.block();
    let expected = write_part(ctx, &mut names, block, size)?;
    publish(ctx, &mut names)?;
    let (read, actual) = read_back(ctx, &names.done, block, size)?;
    if read != size || actual != expected {
        return Err(WorkError::Failed(format!(
            "checksum mismatch in {}: wrote {} (sha256 {}…), read back {} (sha256 {}…)",
            names.done.display(),
            human_bytes(size),
            short_hex(&expected),
            human_bytes(read),
            short_hex(&actual)
        )));
    }
    ctx.gil
        .blocking(|| fs::remove_file(&names.done))?
        .map_err(|e| io_failed("cannot delete", &names.done, e))?;
    Ok((
        size * 2,
        format!(
            "{} written, synced, verified (sha256 {}…), deleted",
            human_bytes(size),
            short_hex(&actual)
        ),
    ))
}

/// Creates `file-N.part` (never over an existing file), writes `size` bytes
/// of [`fill`]ed blocks through `block`, syncs it, and returns the SHA-256
/// of what was written.
fn write_part(
    ctx: &mut WorkerCtx,
    names: &mut Names,
    block: &mut [u8],
    size: u64,
) -> Result<Sha256Output, WorkError> {
    let part = &names.part;
    let cleanup = &mut names.cleanup;
    let mut file = ctx
        .gil
        .blocking(|| {
            let created = OpenOptions::new().write(true).create_new(true).open(part);
            // Armed inside the call: a cancel while re-taking the GIL must
            // not leave the new file behind.
            if created.is_ok() {
                cleanup.0.push(part.clone());
            }
            created
        })?
        .map_err(|e| io_failed("cannot create", part, e))?;
    let mut direct = ctx.gil.blocking(|| set_direct(&file, true))?.is_ok();
    let mut written_hash = Sha256::new();
    let mut written: u64 = 0;
    let mut block_no = 0u64;
    while written < size {
        ctx.gil.check()?;
        let len = (size - written).min(BLOCK as u64) as usize;
        for (n, slice) in block[..len].chunks_mut(SLICE).enumerate() {
            fill(
                slice,
                ctx.id.wrapping_mul(0x1000_0000) ^ (block_no << 8) ^ n as u64,
            );
            ctx.gil.check()?;
        }
        hash_in_slices(ctx, &mut written_hash, &block[..len])?;
        if direct && !len.is_multiple_of(ALIGN) {
            // A tail shorter than a device block goes through the cache.
            ctx.gil
                .blocking(|| set_direct(&file, false))?
                .map_err(|e| io_failed("cannot write", part, e))?;
            direct = false;
        }
        ctx.gil
            .blocking(|| file.write_all(&block[..len]))?
            .map_err(|e| io_failed("cannot write", part, e))?;
        written += len as u64;
        block_no += 1;
        if !direct && written.is_multiple_of(SYNC_EVERY) && written < size {
            ctx.gil
                .blocking(|| file.sync_data())?
                .map_err(|e| io_failed("cannot fsync", part, e))?;
        }
        ctx.report.progress(written);
    }
    ctx.gil
        .blocking(|| file.sync_all())?
        .map_err(|e| io_failed("cannot fsync", part, e))?;
    Ok(written_hash.finalize())
}

/// "Renames" `file-N.part` to `file-N.bin` without replacing: links the new
/// name (fails if it exists), then drops the old one.
fn publish(ctx: &mut WorkerCtx, names: &mut Names) -> Result<(), WorkError> {
    let Names {
        part,
        done,
        cleanup,
    } = names;
    ctx.gil
        .blocking(|| {
            let linked = fs::hard_link(&*part, &*done);
            if linked.is_ok() {
                cleanup.0.push(done.clone());
            }
            linked
        })?
        .map_err(|e| io_failed("cannot rename", part, e))?;
    ctx.gil
        .blocking(|| fs::remove_file(&*part))?
        .map_err(|e| io_failed("cannot remove", part, e))?;
    Ok(())
}

/// Reads `done` back through `block`, reporting progress past the `size`
/// bytes written; returns how many bytes it read and their SHA-256.
fn read_back(
    ctx: &mut WorkerCtx,
    done: &Path,
    block: &mut [u8],
    size: u64,
) -> Result<(u64, Sha256Output), WorkError> {
    let mut file: File = ctx
        .gil
        .blocking(|| File::open(done))?
        .map_err(|e| io_failed("cannot open", done, e))?;
    // Reads of whole aligned blocks are fine even for a short last block.
    let _ = ctx.gil.blocking(|| set_direct(&file, true))?;
    let mut read_hash = Sha256::new();
    let mut read: u64 = 0;
    loop {
        let n = ctx
            .gil
            .blocking(|| file.read(block))?
            .map_err(|e| io_failed("cannot read", done, e))?;
        if n == 0 {
            break;
        }
        ctx.gil.check()?;
        hash_in_slices(ctx, &mut read_hash, &block[..n])?;
        read += n as u64;
        ctx.report.progress(size + read.min(size));
    }
    Ok((read, read_hash.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_block_starts_on_a_device_block() {
        let mut aligned = AlignedBlock::new();
        let block = aligned.block();
        assert_eq!(block.len(), BLOCK);
        assert_eq!(block.as_ptr() as usize % ALIGN, 0);
    }

    #[test]
    fn direct_io_switches_on_and_off() {
        let dir = std::env::temp_dir().join(format!("threadlab-direct-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("probe");
        let file = File::create(&path).expect("create probe");
        let on = set_direct(&file, true);
        let flags = fcntl_getfl(&file).expect("getfl");
        match on {
            // The usual case (ext4, xfs, btrfs, tmpfs on recent kernels).
            Ok(()) => assert!(flags.contains(OFlags::DIRECT)),
            // A file system without direct I/O: the flag must stay off.
            Err(_) => assert!(!flags.contains(OFlags::DIRECT)),
        }
        set_direct(&file, false).expect("direct I/O off");
        assert!(!fcntl_getfl(&file).expect("getfl").contains(OFlags::DIRECT));
        drop(file);
        fs::remove_dir_all(&dir).expect("clean up");
    }
}

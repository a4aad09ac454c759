//! The file worker: write, fsync, rename, read back, verify, delete.
//!
//! The file is written as `file-N.part` in 1 MiB blocks, synced, renamed to
//! `file-N.bin`, read back and its SHA-256 compared with what was written,
//! then deleted. Each syscall runs with the GIL released; filling and hashing
//! a block runs with it held. Whatever happens — success, error, cancel,
//! panic — a guard removes both names, so nothing is left behind.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{WorkError, WorkerCtx, human_bytes, short_hex};

const BLOCK: usize = 1 << 20;

/// A file worker flushes what it wrote every this many bytes. Without it, many
/// file workers pile up gigabytes of dirty pages that the kernel then writes
/// back in one burst from its own (full-priority) threads, stalling the
/// dashboard for tens to hundreds of milliseconds; flushing as it goes keeps
/// that work in the worker's own, lower-priority thread.
const SYNC_EVERY: u64 = 8 << 20;

/// In `free` mode, a file worker yields its core after this many bytes of
/// filling or hashing (~0.4 ms of CPU), so a waking UI thread runs at once
/// instead of after the worker's time slice.
const SLICE: usize = 256 << 10;

/// Between two slices of CPU work: the eval-breaker check (cancel, drop
/// request), then, when workers run free, gives the core away (under the
/// GIL emulation only one worker runs at a time, and the emulation must
/// stay untouched).
fn breathe(ctx: &mut WorkerCtx) -> Result<(), WorkError> {
    ctx.gil.check()?;
    if ctx.gil.gil().mode() == crate::gil::Mode::Free {
        std::thread::yield_now();
    }
    Ok(())
}

/// Hashes `data` in slices of [`SLICE`], with a [`breathe`] between them.
fn hash_in_slices(ctx: &mut WorkerCtx, hash: &mut Sha256, data: &[u8]) -> Result<(), WorkError> {
    for slice in data.chunks(SLICE) {
        hash.update(slice);
        breathe(ctx)?;
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
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let bytes = x.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

pub(super) fn run(ctx: &mut WorkerCtx) -> Result<(u64, String), WorkError> {
    let size = ctx.settings.file_bytes;
    let dir = ctx.settings.workdir.clone();
    let part = dir.join(format!("file-{}.part", ctx.id));
    let done_path = dir.join(format!("file-{}.bin", ctx.id));
    // Only what this worker created is ever removed: a name armed after it
    // was made, never before (a user's own file of that name stays).
    let mut cleanup = RemoveOnDrop(Vec::new());
    ctx.report.set_total(Some(size * 2));

    // Write.
    let mut file = ctx
        .gil
        .blocking(|| {
            let created = OpenOptions::new().write(true).create_new(true).open(&part);
            // Armed inside the call: a cancel while re-taking the GIL must
            // not leave the new file behind.
            if created.is_ok() {
                cleanup.0.push(part.clone());
            }
            created
        })?
        .map_err(|e| io_failed("cannot create", &part, e))?;
    let mut block = vec![0u8; BLOCK];
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
            breathe(ctx)?;
        }
        hash_in_slices(ctx, &mut written_hash, &block[..len])?;
        ctx.gil
            .blocking(|| file.write_all(&block[..len]))?
            .map_err(|e| io_failed("cannot write", &part, e))?;
        written += len as u64;
        block_no += 1;
        if written.is_multiple_of(SYNC_EVERY) && written < size {
            ctx.gil
                .blocking(|| file.sync_data())?
                .map_err(|e| io_failed("cannot fsync", &part, e))?;
        }
        ctx.report.progress(written);
    }
    ctx.gil
        .blocking(|| file.sync_all())?
        .map_err(|e| io_failed("cannot fsync", &part, e))?;
    drop(file);
    // "Rename" without replacing: link the new name (fails if it exists),
    // then drop the old one.
    ctx.gil
        .blocking(|| {
            let linked = fs::hard_link(&part, &done_path);
            if linked.is_ok() {
                cleanup.0.push(done_path.clone());
            }
            linked
        })?
        .map_err(|e| io_failed("cannot rename", &part, e))?;
    ctx.gil
        .blocking(|| fs::remove_file(&part))?
        .map_err(|e| io_failed("cannot remove", &part, e))?;
    let expected = written_hash.finalize();

    // Read back and verify.
    let mut file: File = ctx
        .gil
        .blocking(|| File::open(&done_path))?
        .map_err(|e| io_failed("cannot open", &done_path, e))?;
    let mut read_hash = Sha256::new();
    let mut read: u64 = 0;
    loop {
        let n = ctx
            .gil
            .blocking(|| file.read(&mut block))?
            .map_err(|e| io_failed("cannot read", &done_path, e))?;
        if n == 0 {
            break;
        }
        ctx.gil.check()?;
        hash_in_slices(ctx, &mut read_hash, &block[..n])?;
        read += n as u64;
        ctx.report.progress(size + read.min(size));
    }
    drop(file);
    let actual = read_hash.finalize();
    if read != size || actual != expected {
        return Err(WorkError::Failed(format!(
            "checksum mismatch in {}: wrote {} (sha256 {}…), read back {} (sha256 {}…)",
            done_path.display(),
            human_bytes(size),
            short_hex(&expected),
            human_bytes(read),
            short_hex(&actual)
        )));
    }
    ctx.gil
        .blocking(|| fs::remove_file(&done_path))?
        .map_err(|e| io_failed("cannot delete", &done_path, e))?;
    Ok((
        size * 2,
        format!(
            "{} written, synced, verified (sha256 {}…), deleted",
            human_bytes(size),
            short_hex(&actual)
        ),
    ))
}

//! File faults: a file worker whose work dir vanishes, turns into a file or
//! is unwritable, whose file is changed or removed under it, or who finds
//! symlinks planted in its way, fails with one clear line, touches nothing
//! outside its work dir and leaves no `.part` file.
//!
//! Part of the fault matrix (`tests/faults_*.rs`); the file-size-limit and
//! full-disk faults run the binary in a pty (`tests/pty_faults.rs`).

mod common;

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use common::lab::{HUGE_STEPS, Lab, assert_contained, assert_readable, failed_message};
use common::{entries, heavy};
use threadlab::gil::{Mode, SwitchInterval};
use threadlab::session::{Session, SessionOptions};
use threadlab::work::{WorkerEvent, WorkerId, WorkerKind};

// ---------------------------------------------------------------------------
// 5. File faults
// ---------------------------------------------------------------------------

#[test]
fn file_worker_when_the_workdir_vanishes() {
    let mut lab = Lab::new("/bytes/1", Mode::Free, |_| {});
    fs::remove_dir(lab.work()).expect("remove the work dir");
    let id = lab.spawn(WorkerKind::File);
    let end = lab.until_terminal(id);
    let message = failed_message(&end);
    assert_readable(message);
    eprintln!("workdir missing: {message}");
    assert!(message.contains("cannot create"), "{message}");
    assert!(message.contains("file-1.part"), "{message}");
    assert!(!lab.work().exists(), "the work dir was re-created");
    assert_contained(&lab);
}

#[test]
fn file_worker_when_the_workdir_became_a_regular_file() {
    let mut lab = Lab::new("/bytes/1", Mode::Free, |_| {});
    fs::remove_dir(lab.work()).expect("remove the work dir");
    fs::write(lab.work(), b"a file where the work dir was").expect("write a file");
    let id = lab.spawn(WorkerKind::File);
    let end = lab.until_terminal(id);
    let message = failed_message(&end);
    assert_readable(message);
    eprintln!("workdir is a file: {message}");
    assert!(message.contains("cannot create"), "{message}");
    assert_eq!(
        fs::read(lab.work()).expect("the file is kept"),
        b"a file where the work dir was"
    );
    assert_contained(&lab);
}

/// A directory that exists but that even root cannot create files in.
fn unwritable_dir() -> PathBuf {
    let dir = PathBuf::from("/sys/kernel");
    assert!(
        dir.is_dir(),
        "test setup: {} is not a directory",
        dir.display()
    );
    let probe = dir.join("threadlab-probe");
    assert!(
        fs::File::create_new(&probe).is_err(),
        "test setup: {} is writable",
        dir.display()
    );
    dir
}

#[test]
fn file_worker_in_an_unwritable_workdir() {
    let dir = unwritable_dir();
    let mut lab = Lab::with_workdir("/bytes/1", Mode::Free, Some(dir.clone()), |_| {});
    let id = lab.spawn(WorkerKind::File);
    let end = lab.until_terminal(id);
    let message = failed_message(&end);
    assert_readable(message);
    eprintln!("workdir not writable: {message}");
    assert!(message.contains("cannot create"), "{message}");
    assert!(!dir.join(format!("file-{id}.part")).exists());
    assert_contained(&lab);

    // A session refuses it up front.
    let options = SessionOptions {
        workdir: Some(dir.clone()),
        ..Default::default()
    };
    let Err(error) = Session::start(&options) else {
        panic!("an unwritable workdir must be refused");
    };
    let text = error.to_string();
    assert!(text.contains("--workdir"), "{text}");
    assert!(text.contains("not writable"), "{text}");
}

/// The end of a file-interference test: worker `id` failed with a readable
/// message containing `needle`; the hog stops on cancel; the work dir is
/// empty and nothing outside it changed.
fn file_fault_ends_clean(mut lab: Lab, hog: WorkerId, id: WorkerId, what: &str, needle: &str) {
    let end = lab.until_terminal(id);
    eprintln!("{what}: {end:?}");
    let message = failed_message(&end);
    assert_readable(message);
    assert!(message.contains(needle), "{message}");
    lab.cancel_and_time(hog);
    assert_eq!(entries(&lab.work()), Vec::<String>::new());
    assert_contained(&lab);
}

/// A GIL lab where every blocking call of a file worker is followed by a
/// wait of about 100 ms for a CPU hog to hand the GIL back: each step of the
/// file worker is slow enough to interfere with, without any hook.
fn slow_file_lab(file_bytes: u64) -> (Lab, WorkerId) {
    let mut lab = Lab::new("/bytes/1", Mode::Gil, |s| {
        s.cpu_steps = HUGE_STEPS;
        s.file_bytes = file_bytes;
    });
    lab.gil().set_interval(SwitchInterval::MAX);
    let hog = lab.start_hog();
    (lab, hog)
}

#[test]
fn file_changed_during_verification_is_a_checksum_mismatch() {
    let _turn = heavy();
    let size: u64 = 8 << 20;
    let (mut lab, hog) = slow_file_lab(size);
    let id = lab.spawn(WorkerKind::File);
    // Progress past `size` means the read-back has begun; it reads 1 MiB per
    // GIL turn (~100 ms each), so the tail is read long after this.
    lab.wait_progress(id, size + 1);
    let bin = lab.work().join(format!("file-{id}.bin"));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .open(&bin)
        .expect("open the file being verified");
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(size - 4096)).expect("seek");
    file.write_all(&[0xA5; 4096]).expect("change the tail");
    drop(file);
    file_fault_ends_clean(
        lab,
        hog,
        id,
        "changed during verification",
        "checksum mismatch",
    );
}

#[test]
fn file_changed_before_verification_is_a_checksum_mismatch() {
    let _turn = heavy();
    let size: u64 = 8 << 20;
    let (mut lab, hog) = slow_file_lab(size);
    let id = lab.spawn(WorkerKind::File);
    // Progress past 0: the first 1 MiB block is in `file-N.part`, and the
    // other seven take a GIL turn (~100 ms) each.
    let done = lab.wait_progress(id, 1);
    assert!(done < size, "still writing");
    let part = lab.work().join(format!("file-{id}.part"));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .open(&part)
        .expect("open the file being written");
    file.write_all(&[0x5A; 4096]).expect("change the head");
    drop(file);
    file_fault_ends_clean(
        lab,
        hog,
        id,
        "changed before verification",
        "checksum mismatch",
    );
}

#[test]
fn file_removed_before_verification_fails_readably() {
    let _turn = heavy();
    let size: u64 = 8 << 20;
    let (mut lab, hog) = slow_file_lab(size);
    let id = lab.spawn(WorkerKind::File);
    let done = lab.wait_progress(id, 1);
    assert!(done < size, "still writing");
    let part = lab.work().join(format!("file-{id}.part"));
    fs::remove_file(&part).expect("remove the file being written");
    let needle = format!("file-{id}.part");
    file_fault_ends_clean(lab, hog, id, "removed before verification", &needle);
}

#[test]
fn file_removed_during_verification_fails_readably() {
    let _turn = heavy();
    let size: u64 = 8 << 20;
    let (mut lab, hog) = slow_file_lab(size);
    let id = lab.spawn(WorkerKind::File);
    lab.wait_progress(id, size + 1);
    let bin = lab.work().join(format!("file-{id}.bin"));
    fs::remove_file(&bin).expect("remove the file being verified");
    // The open file still reads back whole, so the check passes; the file
    // is gone when the worker deletes it, and that must not go unnoticed.
    let needle = format!("file-{id}.bin");
    file_fault_ends_clean(lab, hog, id, "removed during verification", &needle);
}

#[test]
fn symlinked_part_name_cannot_escape_the_workdir() {
    let mut lab = Lab::new("/bytes/1", Mode::Free, |_| {});
    let target = lab.outside().join("precious.txt");
    std::os::unix::fs::symlink(&target, lab.work().join("file-1.part")).expect("plant a symlink");
    let id = lab.spawn(WorkerKind::File);
    assert_eq!(id, 1);
    let end = lab.until_terminal(id);
    let message = failed_message(&end);
    assert_readable(message);
    eprintln!("symlinked .part: {message}");
    assert!(message.contains("cannot create"), "{message}");
    assert_contained(&lab);
    // The next worker (another name) works normally.
    let id = lab.spawn(WorkerKind::File);
    let end = lab.until_terminal(id);
    assert!(matches!(end, WorkerEvent::Finished { .. }), "{end:?}");
    assert_contained(&lab);
}

#[test]
fn symlinked_bin_name_cannot_escape_the_workdir() {
    let mut lab = Lab::new("/bytes/1", Mode::Free, |_| {});
    let target = lab.outside().join("precious.txt");
    std::os::unix::fs::symlink(&target, lab.work().join("file-1.bin")).expect("plant a symlink");
    let id = lab.spawn(WorkerKind::File);
    let end = lab.until_terminal(id);
    eprintln!("symlinked .bin: {end:?}");
    assert!(end.is_terminal());
    assert_contained(&lab);
    assert_eq!(
        entries(&lab.work())
            .iter()
            .filter(|n| n.ends_with(".part"))
            .count(),
        0
    );
}

#[test]
fn files_a_worker_did_not_create_are_left_alone() {
    let mut lab = Lab::new("/bytes/1", Mode::Free, |_| {});
    // A user's given workdir may hold files with our names (say, left by a
    // run that was killed): a worker may fail on them, but not delete them.
    fs::write(lab.work().join("file-1.part"), b"the user's part").expect("plant");
    fs::write(lab.work().join("file-2.bin"), b"the user's bin").expect("plant");
    let first = lab.spawn(WorkerKind::File);
    let second = lab.spawn(WorkerKind::File);
    let ends = lab.ends(&[first, second]);
    eprintln!("{ends:?}");
    assert_eq!(
        fs::read(lab.work().join("file-1.part")).ok().as_deref(),
        Some(&b"the user's part"[..]),
        "worker 1 deleted or changed a file it did not create"
    );
    assert_eq!(
        fs::read(lab.work().join("file-2.bin")).ok().as_deref(),
        Some(&b"the user's bin"[..]),
        "worker 2 replaced or deleted a file it did not create"
    );
}

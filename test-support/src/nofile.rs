//! The soft file-descriptor limit (`RLIMIT_NOFILE`) a test needs. Many
//! machines give a user a soft limit of 1,024 under a much higher hard
//! limit; a test that holds thousands of sockets raises its own soft limit
//! up to the hard one, as servers do, or reports why it cannot.

/// The soft and hard `RLIMIT_NOFILE` of this process (`u64::MAX`: unlimited).
pub fn limits() -> (u64, u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (limit.rlim_cur, limit.rlim_max)
}

/// Makes at least `needed` descriptors available, raising the soft limit
/// towards the hard one. `Err` says why not: the hard limit is too low, and
/// what would raise it.
pub fn ensure(needed: u64) -> Result<(), String> {
    let (soft, hard) = limits();
    if soft >= needed {
        return Ok(());
    }
    if hard < needed {
        return Err(format!(
            "needs {needed} file descriptors, the hard limit is {hard}; raise it (`ulimit -Hn {needed}` as root, or `nofile` in /etc/security/limits.conf)"
        ));
    }
    let limit = libc::rlimit {
        rlim_cur: hard.min(needed.max(soft).saturating_mul(2)).max(needed),
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the struct we pass; raising the soft limit up
    // to the hard one needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(format!(
            "needs {needed} file descriptors; raising the soft limit from {soft} failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    eprintln!(
        "raised the soft descriptor limit from {soft} to {} for this test",
        limit.rlim_cur
    );
    Ok(())
}

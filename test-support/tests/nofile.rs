//! `nofile::ensure` raises the soft descriptor limit up to the hard one
//! when a test needs more, and says why when the hard limit is too low.

use threadlab_test_support::nofile::{ensure, limits};

#[test]
fn ensure_raises_the_soft_limit_and_refuses_past_the_hard_one() {
    let (_, hard) = limits();
    let low = 256.min(hard);
    let lowered = libc::rlimit {
        rlim_cur: low,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the struct; lowering the soft limit is always allowed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
    assert_eq!(limits().0, low);
    if hard >= 512 {
        ensure(512).expect("raise to 512");
        assert!(limits().0 >= 512, "{:?}", limits());
    }
    if hard < u64::MAX {
        let why = ensure(hard + 1).expect_err("past the hard limit");
        assert!(why.contains("hard limit"), "{why}");
    }
}

//! What a pty run wrapped in `sh -c` left behind ([`Wrapped`]: the exit
//! code, `stty -a` before and after, the final screen and terminal modes)
//! and the checks that the terminal was restored, plus byte and text
//! helpers for reading raw terminal output.

use std::collections::HashSet;

use super::pty::{ENTER_ALT, HIDE_CURSOR, LEAVE_ALT, SHOW_CURSOR};

/// What a wrapped run left behind.
pub struct Wrapped {
    /// threadlab's exit code, as the shell saw it.
    pub code: i32,
    /// `stty -a` before threadlab ran.
    pub stty_before: String,
    /// `stty -a` after threadlab exited.
    pub stty_after: String,
    /// What was written between the start and the exit of threadlab.
    pub run_output: String,
    /// Everything written to the terminal.
    pub raw: Vec<u8>,
    /// The screen at the end.
    pub screen: String,
    /// Whether the terminal was left on the alternate screen.
    pub alternate_screen: bool,
    /// Whether the terminal was left with the cursor hidden.
    pub cursor_hidden: bool,
    /// Whether the terminal was left reporting the mouse.
    pub mouse_reporting: bool,
}

impl Wrapped {
    /// The exit code, the final screen and the raw output's tail, for failure messages.
    pub fn describe(&self) -> String {
        let tail_from = self.raw.len().saturating_sub(1500);
        format!(
            "exit code {}\n---- screen ----\n{}\n---- last raw output ----\n{}\n----",
            self.code,
            self.screen,
            String::from_utf8_lossy(&self.raw[tail_from..]).escape_debug()
        )
    }

    /// Main screen, cursor shown, mouse reporting off, and the same
    /// terminal settings as before (cooked mode: icanon, echo…).
    pub fn assert_terminal_as_found(&self) {
        self.assert_as_found(true);
    }

    /// The program took the terminal over and gave it back: it left the
    /// alternate screen and showed the cursor after it last entered and hid
    /// them, and [`Wrapped::assert_terminal_as_found`] holds.
    pub fn assert_terminal_restored(&self) {
        self.assert_given_back();
        self.assert_as_found(true);
    }

    /// [`Wrapped::assert_terminal_restored`] without its mouse-reporting
    /// check: exactly what `tests/pty.rs` checks.
    pub fn assert_terminal_restored_except_mouse(&self) {
        self.assert_given_back();
        self.assert_as_found(false);
    }

    /// The last enter of the alternate screen is followed by a leave, and
    /// the cursor was shown after it was last hidden.
    fn assert_given_back(&self) {
        let info = self.describe();
        let raw = &self.raw;
        let enter = rfind(raw, ENTER_ALT)
            .unwrap_or_else(|| panic!("the program never entered the alternate screen\n{info}"));
        let leave = rfind(raw, LEAVE_ALT)
            .unwrap_or_else(|| panic!("the program never left the alternate screen\n{info}"));
        assert!(
            leave > enter,
            "the last leave-alternate-screen comes before the last enter\n{info}"
        );
        let show = rfind(raw, SHOW_CURSOR)
            .unwrap_or_else(|| panic!("the cursor was never shown again\n{info}"));
        assert!(
            show > enter,
            "no show-cursor after entering the dashboard\n{info}"
        );
        if let Some(hide) = rfind(raw, HIDE_CURSOR) {
            assert!(
                show > hide,
                "the last cursor hide is not followed by a show\n{info}"
            );
        }
    }

    /// Main screen, cursor shown, mouse reporting off (if `mouse`), and the
    /// same terminal settings as before.
    fn assert_as_found(&self, mouse: bool) {
        let info = self.describe();
        assert!(
            !self.alternate_screen,
            "left on the alternate screen\n{info}"
        );
        assert!(!self.cursor_hidden, "left with the cursor hidden\n{info}");
        if mouse {
            assert!(
                !self.mouse_reporting,
                "left with mouse reporting on\n{info}"
            );
        }
        let before = stty_flags(&self.stty_before);
        let after = stty_flags(&self.stty_after);
        for flag in ["icanon", "echo", "isig", "icrnl", "opost"] {
            assert!(
                before.contains(flag),
                "test setup: the pty did not start with {flag} on: {}",
                self.stty_before
            );
            assert!(
                after.contains(flag) && !after.contains(&format!("-{flag}")),
                "{flag} not restored after exit (raw mode left on?)\nstty after:{}\n{info}",
                self.stty_after
            );
        }
        assert_eq!(
            squash(&self.stty_before),
            squash(&self.stty_after),
            "terminal settings differ before and after the run\n{info}"
        );
    }
}

/// The settings words of `stty -a` output (`icanon`, `-echo`, …).
pub fn stty_flags(stty: &str) -> HashSet<String> {
    stty.split(|c: char| c.is_whitespace() || c == ';')
        .filter(|word| !word.is_empty())
        .map(str::to_string)
        .collect()
}

/// `text` with every run of whitespace made one space.
pub fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Where `needle` first occurs in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Where `needle` last occurs in `haystack`.
pub fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

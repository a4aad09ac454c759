//! The traced program's stdout and stderr as plain lines for a console pane:
//! escape sequences and control characters stripped, a line redrawn with
//! `\r` (a progress bar) kept in its last state, and a bounded ring of the
//! newest lines ([`SeqRing`], like the GIL timeline's) that a reader copies
//! from incrementally.

use std::io::Read;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::ring::SeqRing;

/// Lines kept; older ones are dropped.
pub(crate) const CONSOLE_LINES: usize = 2000;
/// Longest line kept, in characters (the rest is cut).
const MAX_LINE: usize = 4096;

#[derive(Debug, Default)]
struct Streams {
    /// The line being written (no newline yet), as it looks now.
    partial: String,
    /// Streams still open.
    open: u32,
}

/// What the program printed, shared between the pipe readers and the UI.
#[derive(Debug)]
pub struct ConsoleLog {
    lines: SeqRing<String>,
    streams: Mutex<Streams>,
    closed: Condvar,
}

impl Default for ConsoleLog {
    fn default() -> Self {
        Self {
            lines: SeqRing::new(CONSOLE_LINES),
            streams: Mutex::default(),
            closed: Condvar::new(),
        }
    }
}

impl ConsoleLog {
    /// Starts one reader thread per stream; each feeds its own
    /// [`LineCleaner`] and appends finished lines here.
    pub fn capture(streams: Vec<Box<dyn Read + Send>>) -> Arc<ConsoleLog> {
        let log = Arc::new(ConsoleLog::default());
        log.lock().open = streams.len() as u32;
        for mut stream in streams {
            let shared = Arc::clone(&log);
            let spawned = std::thread::Builder::new()
                .name("program-output".into())
                .spawn(move || {
                    let mut cleaner = LineCleaner::default();
                    let mut buf = [0u8; 8192];
                    loop {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                cleaner.feed(&buf[..n], |line| shared.push(line));
                                shared.lock().partial = cleaner.partial();
                            }
                        }
                    }
                    if let Some(line) = cleaner.finish() {
                        shared.push(line);
                    }
                    shared.close_one();
                });
            if spawned.is_err() {
                log.close_one();
            }
        }
        log
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Streams> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends a finished line.
    pub fn push(&self, line: String) {
        self.lines.push(line);
    }

    /// Copies the lines numbered `seq` and later into `out`; returns the
    /// number to ask for next time.
    pub fn read_since(&self, seq: u64, out: &mut Vec<String>) -> u64 {
        self.lines.read_since(seq, out)
    }

    /// [`read_since`](Self::read_since) without waiting: `None` while a
    /// reader thread holds the ring (its lines wait for the next call). A
    /// UI frame reads this way.
    pub fn try_read_since(&self, seq: u64, out: &mut Vec<String>) -> Option<u64> {
        self.lines.try_read_since(seq, out)
    }

    /// The unfinished last line as it looks now (empty if none).
    pub fn partial(&self) -> String {
        self.lock().partial.clone()
    }

    /// Waits up to `timeout` for every stream to end; true if they did.
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        let streams = self.lock();
        let (streams, _) = self
            .closed
            .wait_timeout_while(streams, timeout, |s| s.open > 0)
            .unwrap_or_else(PoisonError::into_inner);
        streams.open == 0
    }

    fn close_one(&self) {
        let mut streams = self.lock();
        streams.partial.clear();
        streams.open = streams.open.saturating_sub(1);
        self.closed.notify_all();
    }
}

/// Turns a byte stream into plain text lines the way a terminal would
/// show them: `\r` returns to column 0 and later text overwrites, `\b`
/// steps back, tabs expand, escape sequences (CSI, OSC, two-byte) and other
/// control characters vanish, invalid UTF-8 becomes U+FFFD.
#[derive(Debug, Default)]
pub(crate) struct LineCleaner {
    line: Vec<char>,
    col: usize,
    escape: Escape,
    /// An incomplete UTF-8 sequence from the end of the last chunk.
    pending: Vec<u8>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Escape {
    #[default]
    None,
    /// After ESC.
    Start,
    /// Inside `ESC [ ...` until a final byte.
    Csi,
    /// Inside `ESC ] ...` until BEL or `ESC \`.
    Osc,
    /// Saw ESC inside an OSC (maybe its `ESC \` end).
    OscEsc,
}

impl LineCleaner {
    /// Feeds bytes; calls `line` for every finished line.
    pub(crate) fn feed(&mut self, bytes: &[u8], mut line: impl FnMut(String)) {
        let mut data = std::mem::take(&mut self.pending);
        data.extend_from_slice(bytes);
        let mut rest: &[u8] = &data;
        loop {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    self.chars(text, &mut line);
                    break;
                }
                Err(error) => {
                    let (good, bad) = rest.split_at(error.valid_up_to());
                    self.chars(std::str::from_utf8(good).unwrap_or(""), &mut line);
                    match error.error_len() {
                        Some(len) => {
                            self.chars("\u{fffd}", &mut line);
                            rest = &bad[len..];
                        }
                        None => {
                            self.pending = bad.to_vec();
                            break;
                        }
                    }
                }
            }
        }
    }

    fn chars(&mut self, text: &str, line: &mut impl FnMut(String)) {
        for c in text.chars() {
            match (self.escape, c) {
                (Escape::None, '\u{1b}') => self.escape = Escape::Start,
                (Escape::None, '\n') => line(self.take_line()),
                (Escape::None, '\r') => self.col = 0,
                (Escape::None, '\u{8}') => self.col = self.col.saturating_sub(1),
                (Escape::None, '\t') => {
                    let stop = (self.col / 8 + 1) * 8;
                    while self.col < stop {
                        self.put(' ');
                    }
                }
                (Escape::None, c) if c.is_control() => {}
                (Escape::None, c) => self.put(c),
                (Escape::Start, '[') => self.escape = Escape::Csi,
                (Escape::Start, ']') => self.escape = Escape::Osc,
                (Escape::Start, _) => self.escape = Escape::None,
                (Escape::Csi, c) if ('\u{40}'..='\u{7e}').contains(&c) => {
                    self.escape = Escape::None
                }
                (Escape::Csi, _) => {}
                (Escape::Osc, '\u{7}') => self.escape = Escape::None,
                (Escape::Osc, '\u{1b}') => self.escape = Escape::OscEsc,
                (Escape::Osc, _) => {}
                (Escape::OscEsc, '\\') => self.escape = Escape::None,
                (Escape::OscEsc, _) => self.escape = Escape::Osc,
            }
        }
    }

    fn put(&mut self, c: char) {
        if self.col < self.line.len() {
            self.line[self.col] = c;
        } else if self.line.len() < MAX_LINE {
            self.line.push(c);
        } else {
            return;
        }
        self.col += 1;
    }

    fn take_line(&mut self) -> String {
        self.col = 0;
        let text: String = self.line.drain(..).collect();
        text.trim_end().to_string()
    }

    /// The unfinished line as it looks now.
    pub(crate) fn partial(&self) -> String {
        self.line.iter().collect::<String>().trim_end().to_string()
    }

    /// The unfinished line, if any, once the stream has ended.
    pub(crate) fn finish(&mut self) -> Option<String> {
        (!self.line.is_empty()).then(|| self.take_line())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(chunks: &[&[u8]]) -> (Vec<String>, String) {
        let mut cleaner = LineCleaner::default();
        let mut lines = Vec::new();
        for chunk in chunks {
            cleaner.feed(chunk, |l| lines.push(l));
        }
        (lines, cleaner.partial())
    }

    #[test]
    fn escapes_and_controls_vanish_and_carriage_returns_overwrite() {
        let (lines, partial) = clean(&[
            b"\x1b[1;31mred\x1b[0m plain\n",
            b"10%\r20%\r100% done\n",
            b"\x1b]0;title\x07after osc\n",
            b"ab\x08c\x00\x07\n",
            b"long progress\rshort",
        ]);
        assert_eq!(lines, vec!["red plain", "100% done", "after osc", "ac"]);
        assert_eq!(partial, "shortprogress");
    }

    #[test]
    fn utf8_split_across_reads_survives_and_invalid_bytes_are_replaced() {
        let snow = "☃".as_bytes();
        let (lines, _) = clean(&[&snow[..1], &snow[1..], b" \xff ok\n"]);
        assert_eq!(lines, vec!["☃ \u{fffd} ok"]);
    }

    #[test]
    fn the_log_keeps_the_newest_lines_and_reads_incrementally() {
        let log = ConsoleLog::default();
        for n in 0..(CONSOLE_LINES + 3) {
            log.push(n.to_string());
        }
        let mut out = Vec::new();
        let next = log.read_since(0, &mut out);
        assert_eq!(out.len(), CONSOLE_LINES);
        assert_eq!(out.first().map(String::as_str), Some("3"));
        out.clear();
        log.push("new".into());
        log.read_since(next, &mut out);
        assert_eq!(out, vec!["new".to_string()]);
    }

    #[test]
    fn capture_reads_pipes_to_the_end() {
        let log = ConsoleLog::capture(vec![
            Box::new(&b"one\ntwo\rTWO\n"[..]),
            Box::new(&b"tail without newline"[..]),
        ]);
        assert!(log.wait_closed(Duration::from_secs(10)), "readers finish");
        let mut out = Vec::new();
        log.read_since(0, &mut out);
        out.sort();
        assert_eq!(out, vec!["TWO", "one", "tail without newline"]);
    }
}

//! Logging: `tracing` events go to an optional log file (through
//! `tracing_appender::non_blocking`, never to the terminal the dashboard
//! owns) and to a bounded in-memory ring that the log pane (`l`) shows.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use threadlab_engine::ring::SeqRing;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// Lines the ring keeps.
pub(crate) const RING_LINES: usize = 1000;

/// The log pane's ring of formatted lines: the engine's sequence ring, so
/// the UI reads it without blocking ([`SeqRing::try_read_since`]) as it
/// reads the GIL timeline.
pub(crate) type LogRing = SeqRing<String>;

/// The process's log ring.
pub fn ring() -> &'static LogRing {
    static RING: OnceLock<LogRing> = OnceLock::new();
    RING.get_or_init(|| SeqRing::new(RING_LINES))
}

fn started() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

#[derive(Default)]
struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?} ");
        } else {
            let _ = write!(self.0, "{}={value:?} ", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value} ");
        } else {
            let _ = write!(self.0, "{}={value} ", field.name());
        }
    }
}

/// Formats each event as one line into the ring.
struct RingLayer;

impl<S: Subscriber> Layer<S> for RingLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let thread = std::thread::current();
        ring().push(format!(
            "{:>8.3}s {:<5} {} {}",
            started().elapsed().as_secs_f64(),
            meta.level(),
            thread.name().unwrap_or("?"),
            fields.0.trim_end()
        ));
    }
}

/// Installs the global subscriber: the ring always, the file when given.
/// The level comes from `THREADLAB_LOG` (env-filter syntax), else `level`.
/// Keep the returned guard alive: it flushes the file on drop.
pub fn init(
    file: Option<&Path>,
    level: &str,
) -> Result<Option<tracing_appender::non_blocking::WorkerGuard>, String> {
    started();
    let filter = match std::env::var("THREADLAB_LOG") {
        Ok(spec) => tracing_subscriber::EnvFilter::try_new(&spec)
            .map_err(|e| format!("THREADLAB_LOG={spec}: {e}"))?,
        Err(_) => tracing_subscriber::EnvFilter::try_new(level)
            .map_err(|e| format!("log level '{level}': {e}"))?,
    };
    let (file_layer, guard) = match file {
        Some(path) => {
            let handle = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("--log {}: cannot open for writing: {e}", path.display()))?;
            let (writer, guard) = tracing_appender::non_blocking(handle);
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_thread_names(true);
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(RingLayer)
        .with(file_layer)
        .try_init()
        .map_err(|e| format!("cannot install logging: {e}"))?;
    Ok(guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_is_bounded_and_reads_only_new_lines() {
        let ring = LogRing::new(RING_LINES);
        for n in 0..(RING_LINES + 10) {
            ring.push(n.to_string());
        }
        let mut out = Vec::new();
        let seq = ring.read_since(0, &mut out);
        assert_eq!(out.len(), RING_LINES);
        assert_eq!(out.first().map(String::as_str), Some("10"));
        out.clear();
        ring.push("new".into());
        ring.read_since(seq, &mut out);
        assert_eq!(out, vec!["new".to_string()]);
    }
}

//! Reading the dashboard's screen: the workers table's rows and the header's
//! counts, as drawn.

/// One row of the workers table as drawn.
#[derive(Debug)]
pub struct WorkerLine {
    /// The worker's id.
    pub id: u64,
    /// `fetch`, `file`, `cpu` or `sleep`.
    pub kind: String,
    /// State, progress, time and result columns.
    pub rest: String,
}

/// The worker table's rows on `screen`: lines of the left pane reading
/// `│ ID KIND …│`, with KIND one of the worker kinds.
pub fn worker_lines(screen: &str) -> Vec<WorkerLine> {
    screen
        .lines()
        .filter_map(|line| {
            let inner = line.strip_prefix('│')?;
            let inner = inner.split('│').next().unwrap_or(inner);
            let mut words = inner.split_whitespace();
            let id = words.next()?.parse().ok()?;
            let kind = words.next()?;
            if !["fetch", "file", "cpu", "sleep"].contains(&kind) {
                return None;
            }
            let rest = inner.split_once(kind)?.1.trim().to_string();
            Some(WorkerLine {
                id,
                kind: kind.to_string(),
                rest,
            })
        })
        .collect()
}

/// Whether `screen` has a `kind` row whose state columns contain `state`.
pub fn has_worker(screen: &str, kind: &str, state: &str) -> bool {
    worker_lines(screen)
        .iter()
        .any(|row| row.kind == kind && row.rest.contains(state))
}

/// A count from the header line (`running 2 · done 0 · failed 0 · cancelled 1`).
pub fn header_count(screen: &str, label: &str) -> Option<u64> {
    let header = screen.lines().next()?;
    if !header.contains("threadlab") {
        return None;
    }
    let mut words = header.split_whitespace();
    words.find(|word| *word == label)?;
    words.next()?.parse().ok()
}

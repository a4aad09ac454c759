//! Fitting text to a width without cutting a word: lines are built from
//! items ranked by importance, and the least important items go first,
//! whole, until the rest fits. Free text (a notice, a worker's message) is
//! cut at a word boundary and marked with `…`.

use ratatui::text::{Line, Span};

/// One piece of a line: its spans, what separates it from the previous
/// piece shown, and its rank (0 is kept longest).
#[derive(Debug, Clone)]
pub(crate) struct Item<'a> {
    /// The rank: items go in descending rank order as room shrinks.
    pub rank: u8,
    /// Shown before this item when an item precedes it.
    pub sep: &'static str,
    /// The item itself.
    pub spans: Vec<Span<'a>>,
}

impl<'a> Item<'a> {
    /// An item of one span.
    pub fn new(rank: u8, sep: &'static str, span: impl Into<Span<'a>>) -> Self {
        Self {
            rank,
            sep,
            spans: vec![span.into()],
        }
    }

    /// An item of several spans.
    pub(crate) fn spans(rank: u8, sep: &'static str, spans: Vec<Span<'a>>) -> Self {
        Self { rank, sep, spans }
    }

    fn width(&self) -> usize {
        self.spans.iter().map(Span::width).sum()
    }
}

/// Which items fit in `room` columns: the most important first, stopping
/// at the first that does not fit (a fixed order of importance).
fn kept(items: &[Item], room: usize) -> Vec<bool> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| items[i].rank);
    let mut keep = vec![false; items.len()];
    for i in order {
        keep[i] = true;
        if line_width(items, &keep) > room {
            keep[i] = false;
            break;
        }
    }
    keep
}

fn line_width(items: &[Item], keep: &[bool]) -> usize {
    let mut width = 0;
    let mut first = true;
    for (item, _) in items.iter().zip(keep).filter(|(_, k)| **k) {
        if !first {
            width += item.sep.chars().count();
        }
        first = false;
        width += item.width();
    }
    width
}

/// The items that fit in `room` columns, in their order, as one line.
pub(crate) fn fit_line<'a>(items: Vec<Item<'a>>, room: usize) -> Line<'a> {
    let keep = kept(&items, room);
    let mut spans = Vec::new();
    for (item, keep) in items.into_iter().zip(keep) {
        if !keep {
            continue;
        }
        if !spans.is_empty() && !item.sep.is_empty() {
            spans.push(Span::raw(item.sep));
        }
        spans.extend(item.spans);
    }
    Line::from(spans)
}

/// A block title from ranked parts joined with ` · `, padded with a space
/// each side, fitting `room` columns (a border's width minus its corners).
pub(crate) fn fit_title(parts: &[(u8, &str)], room: usize) -> String {
    let items: Vec<Item> = parts
        .iter()
        .map(|(rank, text)| Item::new(*rank, " · ", text.to_string()))
        .collect();
    let line = fit_line(items, room.saturating_sub(2));
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    if text.is_empty() {
        String::new()
    } else {
        format!(" {text} ")
    }
}

/// The first of `options` (longest first) that fits in `room` columns,
/// or nothing.
pub(crate) fn first_fitting<'a>(options: &[&'a str], room: usize) -> &'a str {
    options
        .iter()
        .find(|o| o.chars().count() <= room)
        .copied()
        .unwrap_or("")
}

/// `text` in at most `width` columns: whole if it fits, else cut after the
/// last whole word that fits, with `…`.
pub(crate) fn cut_words(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let room = width - 1; // for the ellipsis
    let mut end = 0;
    for (i, c) in text.char_indices() {
        if text[..i].chars().count() > room {
            break;
        }
        if c == ' ' {
            end = i;
        }
    }
    if end == 0 {
        // One long word: better a clean ellipsis than half of it.
        return "…".to_string();
    }
    format!("{}…", text[..end].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: &Line) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn least_important_items_go_first_and_whole() {
        let items = || {
            vec![
                Item::new(0, "", "mode"),
                Item::new(2, " · ", "cores 2"),
                Item::new(1, " · ", "running 3"),
            ]
        };
        assert_eq!(text(&fit_line(items(), 80)), "mode · cores 2 · running 3");
        assert_eq!(text(&fit_line(items(), 20)), "mode · running 3");
        assert_eq!(text(&fit_line(items(), 10)), "mode");
        assert_eq!(text(&fit_line(items(), 3)), "");
    }

    #[test]
    fn free_text_is_cut_between_words() {
        assert_eq!(
            cut_words("HTTP 500 Internal Server Error", 30),
            "HTTP 500 Internal Server Error"
        );
        assert_eq!(
            cut_words("HTTP 500 Internal Server Error", 20),
            "HTTP 500 Internal…"
        );
        assert_eq!(cut_words("HTTP 500 Internal Server Error", 4), "…");
        assert_eq!(
            fit_title(&[(0, "GIL timeline"), (1, "100 ms")], 30),
            " GIL timeline · 100 ms "
        );
        assert_eq!(
            fit_title(&[(0, "GIL timeline"), (1, "100 ms")], 16),
            " GIL timeline "
        );
    }
}

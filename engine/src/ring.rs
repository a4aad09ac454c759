//! A bounded ring whose items are numbered in the order they were pushed.
//!
//! Writers push; readers remember the number they will ask for next and get
//! only what is new, so a reader that polls every frame copies each item
//! once. When the ring is full the oldest item goes: a reader that fell
//! behind gets the newest [`SeqRing::capacity`] items and learns nothing is
//! lost beyond them. The GIL's timeline keeps its events in one; the log
//! pane's lines fit the same shape.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

#[derive(Debug)]
struct Inner<T> {
    items: VecDeque<T>,
    /// Items ever pushed: the sequence number of the next one.
    next_seq: u64,
}

/// A bounded, thread-safe ring of `T`s numbered from 0 in push order.
#[derive(Debug)]
pub struct SeqRing<T> {
    inner: Mutex<Inner<T>>,
    capacity: usize,
}

impl<T: Clone> SeqRing<T> {
    /// An empty ring keeping at most `capacity` items (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                next_seq: 0,
            }),
            capacity: capacity.max(1),
        }
    }

    /// Appends `item`, dropping the oldest when full.
    pub fn push(&self, item: T) {
        let mut inner = self.lock();
        if inner.items.len() == self.capacity {
            inner.items.pop_front();
        }
        inner.items.push_back(item);
        inner.next_seq += 1;
    }

    /// Appends `item` after `fit` adjusted it to the newest item, both under
    /// the ring's lock (the GIL timeline keeps its stamps in order this way).
    pub(crate) fn push_fitted(&self, mut item: T, fit: impl FnOnce(&T, &mut T)) {
        let mut inner = self.lock();
        if let Some(newest) = inner.items.back() {
            fit(newest, &mut item);
        }
        if inner.items.len() == self.capacity {
            inner.items.pop_front();
        }
        inner.items.push_back(item);
        inner.next_seq += 1;
    }

    /// Copies every item numbered `seq` or later that is still in the ring
    /// into `out`; returns the number to ask for next time.
    pub fn read_since(&self, seq: u64, out: &mut Vec<T>) -> u64 {
        copy_since(&self.lock(), seq, out)
    }

    /// [`read_since`](Self::read_since) without waiting: `None` when another
    /// thread holds the ring right now (its items stay for the next read).
    /// A reader that must never block — a UI frame — reads this way.
    pub fn try_read_since(&self, seq: u64, out: &mut Vec<T>) -> Option<u64> {
        let inner = match self.inner.try_lock() {
            Ok(inner) => inner,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        Some(copy_since(&inner, seq, out))
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn copy_since<T: Clone>(inner: &Inner<T>, seq: u64, out: &mut Vec<T>) -> u64 {
    let oldest = inner.next_seq - inner.items.len() as u64;
    let skip = seq.saturating_sub(oldest) as usize;
    out.extend(inner.items.iter().skip(skip).cloned());
    inner.next_seq
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_since_returns_only_new_items_and_survives_wraparound() {
        let ring = SeqRing::new(4);
        let mut out = Vec::new();
        for n in 0..3 {
            ring.push(n);
        }
        let seq = ring.read_since(0, &mut out);
        assert_eq!((out.as_slice(), seq), (&[0, 1, 2][..], 3));
        out.clear();
        ring.push(3);
        let seq = ring.read_since(seq, &mut out);
        assert_eq!((out.as_slice(), seq), (&[3][..], 4));
        // Overflow: a reader that fell behind gets the newest 4, no more.
        for n in 4..10 {
            ring.push(n);
        }
        out.clear();
        let next = ring.read_since(seq, &mut out);
        assert_eq!((out.as_slice(), next), (&[6, 7, 8, 9][..], 10));
        out.clear();
        assert_eq!(ring.read_since(next, &mut out), 10);
        assert!(out.is_empty());
    }

    #[test]
    fn try_read_since_reads_like_read_since_and_never_waits() {
        let ring = SeqRing::new(8);
        let mut out = Vec::new();
        for n in 0..3 {
            ring.push(n);
        }
        assert_eq!(ring.try_read_since(1, &mut out), Some(3));
        assert_eq!(out, [1, 2]);
        out.clear();
        let held = ring.lock();
        assert_eq!(ring.try_read_since(0, &mut out), None);
        assert!(out.is_empty());
        drop(held);
    }
}

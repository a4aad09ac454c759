//! What the emulated GIL's timeline records, checked against the threads
//! themselves: the bench's hold and wait percentiles are those of the
//! recorded lanes, and the lanes never show two holders at once — also
//! when a thread is preempted right after it released the GIL (many
//! threads on few cores make that common).

use std::time::Duration;

use threadlab::gil::{Gil, GilEvent, Mode, SwitchInterval, ThreadTag, Transition};

/// Every stay in a lane, from the timeline alone: (thread, lane, µs).
fn stays(events: &[GilEvent]) -> Vec<(ThreadTag, Transition, u64)> {
    let mut tags: Vec<_> = events.iter().map(|e| e.thread).collect();
    tags.sort_unstable();
    tags.dedup();
    let mut out = Vec::new();
    for tag in tags {
        let lanes: Vec<_> = events
            .iter()
            .filter(|e| e.thread == tag && !e.what.is_mark())
            .collect();
        for pair in lanes.windows(2) {
            // A wait restarted at `take_gil`'s entry (after the switch
            // wait of a forced drop): only the part from there counts.
            if pair[0].what == pair[1].what {
                continue;
            }
            out.push((tag, pair[0].what, pair[1].at_us - pair[0].at_us));
        }
    }
    out
}

/// Asserts the bench's percentile `got` (ms) is the `q`th percentile of
/// `samples` (µs), give or take one rank, a microsecond of clock rounding
/// and the histogram's 0.1 %.
fn assert_percentile(what: &str, got: Option<f64>, samples: &[u64], q: f64) {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let Some(got) = got else {
        assert!(
            sorted.is_empty(),
            "{what}: bench has none, timeline has {sorted:?}"
        );
        return;
    };
    assert!(
        !sorted.is_empty(),
        "{what}: bench says {got} ms, timeline has no samples"
    );
    let n = sorted.len();
    let rank = ((q / 100.0 * n as f64).ceil() as usize).clamp(1, n) - 1;
    let lo = sorted[rank.saturating_sub(1)] as f64 / 1000.0;
    let hi = sorted[(rank + 1).min(n - 1)] as f64 / 1000.0;
    let slack = 0.002 + hi * 0.002;
    assert!(
        got >= lo - slack && got <= hi + slack,
        "{what}: bench {got} ms, timeline p{q} between {lo} and {hi} ms ({n} samples)"
    );
}

/// The hold and wait percentiles `bench --json` prints are those of the
/// lane stays the GIL's timeline recorded, computed here from the events
/// alone: all threads for hold and wait, the thread that does I/O for
/// io_wait.
#[test]
fn bench_distributions_agree_with_the_recorded_timeline() {
    use threadlab::lab::{self, BenchConfig, BenchRow};
    type Experiment = fn(Mode, &BenchConfig) -> std::io::Result<Vec<BenchRow>>;
    let experiments: [(&str, Experiment); 2] = [("convoy", lab::convoy), ("latency", lab::latency)];
    for (name, experiment) in experiments {
        let (tx, rx) = crossbeam_channel::unbounded();
        // Short enough that the ring holds every event: alone, the convoy's
        // I/O thread makes ~100k round trips/s at most, 4 events each (it
        // releases and re-takes the GIL for the send and for the receive).
        let mut config = BenchConfig::new(
            vec![2],
            SwitchInterval::from_millis_f64(1.0).unwrap(),
            Duration::from_millis(60),
        );
        config.gils = Some(tx);
        let rows = experiment(Mode::Gil, &config).expect("the experiment runs");
        let gils: Vec<(u32, Gil)> = rx.try_iter().collect();
        assert_eq!(gils.len(), rows.len(), "{name}: one GIL per measurement");
        for (row, (cpu_threads, gil)) in rows.iter().zip(&gils) {
            assert_eq!(row.cpu_threads, Some(*cpu_threads));
            let what = format!("{name} beside {cpu_threads} cpu threads");
            let mut events = Vec::new();
            let next = gil.timeline().read_since(0, &mut events);
            assert_eq!(next as usize, events.len(), "{what}: the timeline wrapped");
            let stays = stays(&events);
            let io_tag = events
                .iter()
                .find(|e| e.what == Transition::Io)
                .map(|e| e.thread)
                .expect("the I/O thread went into I/O");
            let of = |lane: Transition, only: Option<u32>| -> Vec<u64> {
                stays
                    .iter()
                    .filter(|(tag, what, _)| *what == lane && only.is_none_or(|t| t == *tag))
                    .map(|(_, _, us)| *us)
                    .collect()
            };
            let holds = of(Transition::Hold, None);
            let waits = of(Transition::Wait, None);
            let io_waits = of(Transition::Wait, Some(io_tag));
            assert!(!holds.is_empty(), "{what}: nobody held the GIL");
            if *cpu_threads > 0 {
                assert!(!io_waits.is_empty(), "{what}: the I/O thread never waited");
            }
            assert_percentile(&format!("{what}: hold p50"), row.hold_ms_p50, &holds, 50.0);
            assert_percentile(&format!("{what}: hold p99"), row.hold_ms_p99, &holds, 99.0);
            assert_percentile(&format!("{what}: wait p50"), row.wait_ms_p50, &waits, 50.0);
            assert_percentile(&format!("{what}: wait p99"), row.wait_ms_p99, &waits, 99.0);
            assert_percentile(
                &format!("{what}: io wait p50"),
                row.io_wait_ms_p50,
                &io_waits,
                50.0,
            );
            assert_percentile(
                &format!("{what}: io wait p99"),
                row.io_wait_ms_p99,
                &io_waits,
                99.0,
            );
        }
    }
}

/// Replays `events` and returns the first moment two lanes held the GIL
/// at once, if any.
fn two_holders(events: &[GilEvent]) -> Option<(u64, Vec<ThreadTag>)> {
    let mut holding: Vec<ThreadTag> = Vec::new();
    for event in events.iter().filter(|e| !e.what.is_mark()) {
        holding.retain(|t| *t != event.thread);
        if event.what == Transition::Hold {
            holding.push(event.thread);
        }
        if holding.len() > 1 {
            return Some((event.at_us, holding));
        }
    }
    None
}

/// Six CPU threads and an I/O thread on a 2-core machine: threads are
/// preempted everywhere, also between releasing the GIL and saying so. A
/// release is stamped before the lock is given up and a take while it is
/// held, so the timeline (and every hold time taken from it) never has two
/// holders — as CPython's `drop_gil`/`take_gil` probes would show.
#[test]
fn the_timeline_never_shows_two_holders_even_when_threads_are_preempted() {
    use threadlab::lab::{self, BenchConfig};
    for round in 0..3 {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut config = BenchConfig::new(
            vec![6],
            SwitchInterval::from_millis_f64(0.5).unwrap(),
            Duration::from_millis(300),
        );
        config.gils = Some(tx);
        lab::convoy(Mode::Gil, &config).expect("the experiment runs");
        for (cpu_threads, gil) in rx.try_iter().collect::<Vec<(u32, Gil)>>() {
            let mut events = Vec::new();
            gil.timeline().read_since(0, &mut events);
            let holds = events.iter().filter(|e| e.what == Transition::Hold).count();
            assert!(
                holds > 10,
                "round {round}: {holds} holds beside {cpu_threads}"
            );
            if let Some((at, tags)) = two_holders(&events) {
                panic!(
                    "round {round}, {cpu_threads} cpu threads: lanes {tags:?} both hold at {at} µs"
                );
            }
        }
    }
}

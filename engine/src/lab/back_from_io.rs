//! A thread back from I/O beside two CPU threads (#25 §2): the loop that
//! `benches/back_from_io.rs` runs beside CPython and `tests/emulation.rs`
//! asserts on. In CPython 3.6–3.13 such a thread waits through many
//! switches (p50 ~20–40 ms after a 5–25 ms sleep), because the CPU thread
//! that asked for the drop takes glibc's signal first (`gil/pthread.rs`).

use std::time::{Duration, Instant};

use crate::cancel::CancelToken;
use crate::gil::{Gil, Mode, SwitchInterval};
use crate::work::cpu_step;

/// Two CPU threads in `gil` at the default interval; the calling thread
/// sleeps 5–25 ms with the GIL released, for `for_`, and this returns how
/// much longer than each sleep it took to hold the GIL again, in ms.
pub fn back_from_io_waits(for_: Duration) -> Vec<f64> {
    let gil = Gil::new(Mode::Gil, SwitchInterval::DEFAULT);
    let stop = CancelToken::new();
    let cpus: Vec<_> = (0..2)
        .map(|_| {
            let mut thread = gil.register(stop.clone());
            std::thread::spawn(move || {
                let mut state = 1;
                if thread.enter().is_ok() {
                    while thread.check().is_ok() {
                        state = cpu_step(state);
                    }
                }
                std::hint::black_box(state);
                thread.exit();
            })
        })
        .collect();
    let mut me = gil.register(CancelToken::new());
    let (mut waits, mut seed) = (Vec::new(), 0x2545_F491_4F6C_DD1Du64);
    let began = Instant::now();
    while began.elapsed() < for_ {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let sleep = Duration::from_micros(5_000 + (seed >> 33) % 20_000);
        let asleep = Instant::now();
        if me.blocking(|| std::thread::sleep(sleep)).is_err() {
            break;
        }
        waits.push(asleep.elapsed().saturating_sub(sleep).as_secs_f64() * 1000.0);
    }
    me.exit();
    stop.cancel();
    gil.wake_all();
    for cpu in cpus {
        let _ = cpu.join();
    }
    waits
}

//! Supervised workers: a panic in one tick of a worker is logged and counted, and the worker
//! goes on with its next tick instead of dying with its thread.

use crate::metrics::Metrics;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Runs `tick` until `stop` is set; `tick` returns how long to wait before the next one.
/// A tick that panics is counted in `worker_restarts`, and the worker waits a second before
/// it starts again, so a worker that panics every time does not spin.
pub fn supervise(
    name: &'static str,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
    mut tick: impl FnMut() -> std::time::Duration + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let wait = match catch_unwind(AssertUnwindSafe(&mut tick)) {
                    Ok(wait) => wait,
                    Err(panic) => {
                        let message = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "a panic without a message".into());
                        tracing::error!(worker = name, panic = %message, "worker panicked; restarting it");
                        metrics.worker_restarts.add(1);
                        std::time::Duration::from_secs(1)
                    }
                };
                // Wait in short steps, so a stop is seen within a fraction of a second.
                let until = std::time::Instant::now() + wait;
                while !stop.load(Ordering::Relaxed) {
                    let left = until.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    std::thread::sleep(left.min(std::time::Duration::from_millis(100)));
                }
            }
        })
        .expect("spawning a worker thread")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    #[test]
    fn a_panicking_tick_is_counted_and_the_worker_goes_on() {
        let metrics = Arc::new(Metrics::default());
        let stop = Arc::new(AtomicBool::new(false));
        let ticks = Arc::new(AtomicU32::new(0));
        let seen = ticks.clone();
        let handle = supervise("test-worker", metrics.clone(), stop.clone(), move || {
            if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("first tick fails");
            }
            Duration::from_millis(10)
        });
        let started = std::time::Instant::now();
        while ticks.load(Ordering::SeqCst) < 3 && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        handle.join().unwrap();
        assert!(ticks.load(Ordering::SeqCst) >= 3);
        assert_eq!(metrics.worker_restarts.get(), 1);
    }
}

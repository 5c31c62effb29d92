//! `steward demo`: the example shop on a temporary store, three days of history, live
//! traffic, and an outage of the payment provider 20 seconds in, so that a newcomer sees a
//! budget burn and a page fire within two minutes.

use anyhow::Context;
use std::sync::Arc;
use std::time::{Duration, Instant};
use steward_engine::{Engine, IncomingSample};
use steward_model::slo::Measurement;
use steward_store::Store;

const EXAMPLE: &[(&str, &str)] = &[
    (
        "teams.yaml",
        include_str!("../../../examples/shop/teams.yaml"),
    ),
    (
        "services.yaml",
        include_str!("../../../examples/shop/services.yaml"),
    ),
    (
        "slos.yaml",
        include_str!("../../../examples/shop/slos.yaml"),
    ),
    (
        "oncall.yaml",
        include_str!("../../../examples/shop/oncall.yaml"),
    ),
];

/// How far back the demo's history goes.
const HISTORY: i64 = 3 * 86_400;

/// When the outage starts and how long it lasts, from the demo's start.
const OUTAGE_START: Duration = Duration::from_secs(20);
const OUTAGE_LENGTH: Duration = Duration::from_secs(100);

pub fn run(listen: &str) -> anyhow::Result<()> {
    crate::serve::init_logging();
    let dir = std::env::temp_dir().join(format!("steward-demo-{}", std::process::id()));
    let config = dir.join("config");
    std::fs::create_dir_all(&config).with_context(|| format!("creating {}", config.display()))?;
    for (name, text) in EXAMPLE {
        std::fs::write(config.join(name), text)?;
    }
    let loaded = steward_config::load(&config)
        .map_err(|d| anyhow::anyhow!("the example config is invalid: {d:?}"))?;
    let store = Store::open(&format!("sqlite://{}", dir.join("steward.db").display()))?;
    let now = jiff::Timestamp::now().as_second();
    println!(
        "demo: config in {}, store in {}",
        config.display(),
        dir.display()
    );
    println!(
        "demo: the payment provider fails {}s from now for {}s; watch checkout-availability burn and its page fire",
        OUTAGE_START.as_secs(),
        OUTAGE_LENGTH.as_secs()
    );
    let result = crate::serve::start(
        loaded.catalog,
        store,
        listen,
        steward_engine::alerting::AlertOptions {
            public_url: String::new(),
            group_wait: 0,
            ..Default::default()
        },
        |engine| backfill(engine, now),
        |engine| {
            std::thread::Builder::new()
                .name("demo-traffic".into())
                .spawn(move || traffic(engine))
                .expect("spawning the demo traffic");
        },
    );
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// A small deterministic random source, so every demo tells the same story.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Failures among `n` events at `rate`.
    fn failures(&mut self, n: u64, rate: f64) -> u64 {
        (0..n).filter(|_| self.next() < rate).count() as u64
    }
}

/// Three days of healthy history, one sample a minute, so windows and charts have substance.
fn backfill(engine: &Engine, now: i64) -> anyhow::Result<()> {
    let mut rng = Rng(0x5eed);
    let mut samples = Vec::new();
    // The first minute at or after three days ago: an SLO keeps no more than that (its
    // longest burn window) in the first days of a calendar period, so a sample a few seconds
    // older would be refused.
    let start = now - HISTORY;
    let mut t = start + (60 - start.rem_euclid(60)) % 60;
    while t < now - 60 {
        let mut events = |slo: &str, total: u64, rate: f64| {
            let bad = rng.failures(total, rate);
            samples.push(IncomingSample {
                slo: slo.into(),
                time: Some(t),
                measurement: Measurement::Events {
                    good: total - bad,
                    total,
                },
            });
        };
        events("checkout-availability", 1000, 0.0002);
        events("payments-authorisation", 600, 0.001);
        events("catalog-db-queries", 2000, 0.0003);
        // Search latency: twenty values a minute, mostly fast.
        for _ in 0..20 {
            let ms = 40.0 + 200.0 * rng.next() + if rng.next() < 0.004 { 900.0 } else { 0.0 };
            samples.push(IncomingSample {
                slo: "search-latency".into(),
                time: Some(t),
                measurement: Measurement::Value(ms),
            });
        }
        t += 60;
    }
    for chunk in samples.chunks(10_000) {
        engine
            .import(chunk, now)
            .context("storing the demo's history")?;
    }
    Ok(())
}

/// Live traffic every second; during the outage payments fail and checkout with them.
fn traffic(engine: Arc<Engine>) {
    let began = Instant::now();
    let mut rng = Rng(0xfeed);
    loop {
        let elapsed = began.elapsed();
        let outage = elapsed >= OUTAGE_START && elapsed < OUTAGE_START + OUTAGE_LENGTH;
        let now = jiff::Timestamp::now().as_second();
        if let Err(e) = engine.ingest(&second_of_traffic(&mut rng, outage, now), now) {
            tracing::warn!(error = %e, "demo traffic was not taken");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// One second of the shop's traffic at `now`.
fn second_of_traffic(rng: &mut Rng, outage: bool, now: i64) -> Vec<IncomingSample> {
    let mut samples = Vec::new();
    let mut events = |slo: &str, total: u64, rate: f64, rng: &mut Rng| {
        let bad = rng.failures(total, rate);
        samples.push(IncomingSample {
            slo: slo.into(),
            time: Some(now),
            measurement: Measurement::Events {
                good: total - bad,
                total,
            },
        });
    };
    events(
        "checkout-availability",
        17,
        if outage { 0.8 } else { 0.0002 },
        rng,
    );
    events(
        "payments-authorisation",
        10,
        if outage { 0.3 } else { 0.001 },
        rng,
    );
    events("catalog-db-queries", 33, 0.0003, rng);
    for _ in 0..7 {
        // Search latency in ms: mostly fast, a slow tail.
        let ms = 40.0 + 200.0 * rng.next() + if rng.next() < 0.004 { 900.0 } else { 0.0 };
        samples.push(IncomingSample {
            slo: "search-latency".into(),
            time: Some(now),
            measurement: Measurement::Value(ms),
        });
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The demo's story at a fixed clock: its history is taken, the engine rebuilds, and a
    /// second of live traffic (in the outage) is taken too.
    fn demo_at(now: i64) {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::create_dir_all(&config).unwrap();
        for (name, text) in EXAMPLE {
            std::fs::write(config.join(name), text).unwrap();
        }
        let loaded = steward_config::load(&config).expect("the example config is valid");
        let store =
            Store::open(&format!("sqlite://{}", dir.path().join("s.db").display())).unwrap();
        let engine = Engine::with_options(loaded.catalog, store, now, Default::default()).unwrap();
        let at = jiff::Timestamp::from_second(now).unwrap();
        backfill(&engine, now).unwrap_or_else(|e| panic!("the demo's history at {at}: {e:#}"));
        engine.rebuild(now).unwrap();
        let mut rng = Rng(0xfeed);
        engine
            .ingest(&second_of_traffic(&mut rng, true, now), now)
            .unwrap_or_else(|e| panic!("the demo's traffic at {at}: {e}"));
    }

    /// Regression: the history began a few seconds more than three days back, which a
    /// calendar-month SLO refuses in the first days of its month, so `steward demo` failed
    /// on the 1st to the 4th of every month.
    #[test]
    fn the_demo_starts_on_the_first_days_of_every_month() {
        for month in 1..=12 {
            for (day, time) in [(1, "00:00:07"), (2, "05:32:36"), (4, "23:59:59")] {
                let at: jiff::Timestamp =
                    format!("2026-{month:02}-{day:02}T{time}Z").parse().unwrap();
                demo_at(at.as_second());
            }
        }
    }

    /// Both of Berlin's DST changes of 2026, where the payments SLO's calendar lives.
    #[test]
    fn the_demo_starts_across_a_dst_change() {
        for at in [
            "2026-03-29T01:30:00Z",
            "2026-10-25T00:59:58Z",
            "2026-10-25T01:00:03Z",
        ] {
            demo_at(at.parse::<jiff::Timestamp>().unwrap().as_second());
        }
    }
}

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
    (
        "runbooks.yaml",
        include_str!("../../../examples/shop/runbooks.yaml"),
    ),
    (
        "classes.yaml",
        include_str!("../../../examples/shop/classes.yaml"),
    ),
    (
        "policies.yaml",
        include_str!("../../../examples/shop/policies.yaml"),
    ),
];

/// Where the example's contacts point; the demo's receiver takes their place.
const EXAMPLE_HOOKS: &str = "https://hooks.example.com/";

/// Whom the demo's login link logs in: the example's admin.
const DEMO_ADMIN: &str = "ana";

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
    // The example's people are reached at hooks.example.com: here, at a receiver of the
    // demo's own, so a newcomer sees the page land (on the alert's page in the console).
    let receiver = Receiver::start().context("starting the demo's notification receiver")?;
    for (name, text) in EXAMPLE {
        std::fs::write(
            config.join(name),
            text.replace(EXAMPLE_HOOKS, &format!("http://{}/", receiver.addr)),
        )?;
    }
    let loaded = steward_config::load(&config)
        .map_err(|d| anyhow::anyhow!("the example config is invalid: {d:?}"))?;
    let store = Store::open(&format!("sqlite://{}", dir.join("steward.db").display()))?;
    let now = jiff::Timestamp::now().as_second();
    // The newcomer gets in through a one-time link, as the example's admin, and the CLI
    // with a token of the admin's that lasts the day.
    let token = |kind, expires_at| steward_store::NewToken {
        kind,
        principal: DEMO_ADMIN.into(),
        name: "steward demo".into(),
        services: Vec::new(),
        created_by: "demo".into(),
        at: now,
        expires_at: Some(expires_at),
        role: None,
    };
    let (link, cli) = (
        token(
            steward_store::TokenKind::Login,
            now + steward_http::login::LINK_LIFETIME,
        ),
        token(steward_store::TokenKind::User, now + 86_400),
    );
    let ((_, link), (_, cli)) =
        store.transact(move |tx| Ok((tx.create_token(&link)?, tx.create_token(&cli)?)))?;
    println!(
        "demo: log in to the console once at http://{}/login/once?token={link} (as {DEMO_ADMIN}, the example's admin)",
        listen.replace("0.0.0.0", "127.0.0.1")
    );
    println!("demo: for the command line: export STEWARD_TOKEN={cli}");
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
        crate::serve::Config {
            catalog: loaded.catalog,
            hash: loaded.hash,
            directory: None,
            access: steward_http::access::AccessMode::Required.into(),
            tls: None,
        },
        store,
        listen,
        // The defaults, as a newcomer's own serve would run.
        steward_engine::alerting::AlertOptions {
            public_url: String::new(),
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

/// The demo's stand-in for the webhook, Slack and Teams receivers of the example's people:
/// it takes every POST with 200 and says on the terminal what arrived.
struct Receiver {
    addr: std::net::SocketAddr,
}

impl Receiver {
    fn start() -> std::io::Result<Receiver> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        std::thread::Builder::new()
            .name("demo-receiver".into())
            .spawn(move || {
                for conn in listener.incoming().flatten() {
                    let _ = std::thread::Builder::new()
                        .name("demo-receiver-conn".into())
                        .spawn(move || Receiver::take(conn));
                }
            })?;
        Ok(Receiver { addr })
    }

    /// Reads one request (headers, then the body by its Content-Length) and answers 200.
    fn take(mut conn: std::net::TcpStream) {
        use std::io::{BufRead, Read, Write};
        let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
        let Ok(clone) = conn.try_clone() else { return };
        let mut reader = std::io::BufReader::new(clone);
        let mut first = String::new();
        if reader.read_line(&mut first).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.trim().eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length.min(1 << 20)];
        let _ = reader.read_exact(&mut body);
        let path = first.split_whitespace().nth(1).unwrap_or("/");
        // Not println!: a closed terminal must not stop the receiver.
        let _ = writeln!(
            std::io::stdout(),
            "demo: a notification arrived at {path} ({} bytes); the alert's page in the console shows it",
            body.len()
        );
        let _ =
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    }
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
    readiness_history(engine, now)
}

/// What the shop's provider has done: checkout's runbook rehearsed and every control of
/// checkout proved, so readiness shows a service at each level (checkout advanced, payments
/// intermediate, search and catalog-db beginner, each with what it misses).
fn readiness_history(engine: &Engine, now: i64) -> anyhow::Result<()> {
    let catalog = engine.catalog();
    let checkout = catalog
        .service("checkout")
        .context("the example has checkout")?;
    let proofs: Vec<String> = catalog
        .controls_of(checkout)
        .into_iter()
        .filter(|c| c.evidence.is_some())
        .map(|c| c.name)
        .collect();
    engine.store().transact(move |tx| {
        tx.insert_run(&steward_store::Run {
            id: 0,
            runbook: "checkout-payment-timeouts".into(),
            target: "checkout".into(),
            alert: None,
            incident: None,
            mode: steward_store::RunMode::Rehearsal,
            status: steward_store::RunStatus::Succeeded,
            reason: None,
            causation: "demo-rehearsal".into(),
            labels: Default::default(),
            started_by: "user:dara".into(),
            started_at: now - 12 * 86_400,
            finished_at: Some(now - 12 * 86_400 + 60),
            escalated_at: None,
        })?;
        for (i, control) in proofs.iter().enumerate() {
            tx.add_evidence(&steward_store::Evidence {
                id: 0,
                service: "checkout".into(),
                customer: Some("acme-shop".into()),
                control: control.clone(),
                link: format!("https://wiki.example.com/checkout/{control}"),
                note: "recorded by the demo".into(),
                done_at: now - (3 + i as i64) * 86_400,
                recorded_by: "user:ana".into(),
                recorded_at: now - (3 + i as i64) * 86_400,
            })?;
        }
        Ok(())
    })?;
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
        // Readiness shows a service at each level, on every date.
        let facts = steward_engine::readiness::gather(engine.store(), now).unwrap();
        let levels: Vec<(String, &str)> =
            steward_engine::readiness::assess_all(engine.catalog(), &facts, now)
                .into_iter()
                .map(|r| (r.service, r.level.as_str()))
                .collect();
        assert_eq!(
            levels,
            [
                ("catalog-db".to_string(), "beginner"),
                ("checkout".to_string(), "advanced"),
                ("payments".to_string(), "intermediate"),
                ("search".to_string(), "beginner"),
            ],
            "readiness at {at}"
        );
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

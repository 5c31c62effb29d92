//! One conformance suite, run against SQLite and PostgreSQL in the same test run.
//!
//! PostgreSQL is expected at 127.0.0.1:5432 (user postgres, database test), or at
//! `STEWARD_TEST_POSTGRES`. When it cannot be reached the PostgreSQL tests fail; they never
//! skip.

use steward_store::{AlertTransition, SampleRow, Store};

/// A store and whatever must live as long as it (a temporary directory).
struct Fixture {
    url: String,
    _dir: Option<tempfile::TempDir>,
    schema: Option<String>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(schema) = &self.schema {
            if let Ok(mut c) = ::postgres::Client::connect(&postgres_base(), ::postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}

fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("steward.db").display());
    Fixture {
        url,
        _dir: Some(dir),
        schema: None,
    }
}

fn postgres_base() -> String {
    std::env::var("STEWARD_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A fresh schema per test, so tests run in parallel without seeing each other.
fn postgres() -> Fixture {
    let base = postgres_base();
    let mut client = ::postgres::Client::connect(&base, ::postgres::NoTls).unwrap_or_else(|e| {
        panic!("PostgreSQL is not reachable at {base}: {e}. Start it (see README) — these tests do not skip")
    });
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let schema = format!(
        "conformance_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    Fixture {
        url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
        _dir: None,
        schema: Some(schema),
    }
}

fn row(slo: &str, bucket: i64, good: u64, total: u64) -> SampleRow {
    SampleRow {
        slo: slo.into(),
        bucket,
        good,
        total,
    }
}

fn transition(slo: &str, firing: bool, at: i64) -> AlertTransition {
    AlertTransition {
        slo: slo.into(),
        long_window: "1h".into(),
        short_window: "5m".into(),
        severity: "page".into(),
        firing,
        at,
        long_burn: 20.5,
        short_burn: 30.25,
        factor: 14.4,
    }
}

fn appended_counts_add_up_per_bucket(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    store
        .append(vec![
            row("a", 100, 9, 10),
            row("a", 100, 1, 5),
            row("a", 105, 0, 1),
            row("b", 100, 7, 7),
        ])
        .unwrap();
    store.append(vec![row("a", 100, 5, 5)]).unwrap();
    assert_eq!(
        store.samples_since("a", 0).unwrap(),
        vec![(100, 15, 20), (105, 0, 1)]
    );
    assert_eq!(store.samples_since("a", 101).unwrap(), vec![(105, 0, 1)]);
    assert_eq!(store.samples_since("b", 0).unwrap(), vec![(100, 7, 7)]);
    assert_eq!(store.samples_since("nobody", 0).unwrap(), vec![]);
}

fn large_counts_are_kept_exactly(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    let big = 1_000_000_000_000_000u64;
    store.append(vec![row("a", 0, big - 1, big)]).unwrap();
    store.append(vec![row("a", 0, big, big)]).unwrap();
    assert_eq!(
        store.samples_since("a", 0).unwrap(),
        vec![(0, 2 * big - 1, 2 * big)]
    );
}

fn data_survives_reopening_and_migrations_run_once(f: Fixture) {
    {
        let store = Store::open(&f.url).unwrap();
        store.append(vec![row("a", 10, 1, 2)]).unwrap();
        store
            .record_transitions(vec![transition("a", true, 50)])
            .unwrap();
    }
    let store = Store::open(&f.url).unwrap();
    assert_eq!(store.samples_since("a", 0).unwrap(), vec![(10, 1, 2)]);
    assert_eq!(store.alert_states().unwrap().len(), 1);
}

fn transitions_keep_the_current_state_and_the_history(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    store
        .record_transitions(vec![transition("a", true, 100)])
        .unwrap();
    let states = store.alert_states().unwrap();
    assert_eq!(states.len(), 1);
    assert!(states[0].firing);
    assert_eq!(states[0].since, Some(100));
    store
        .record_transitions(vec![transition("a", false, 400)])
        .unwrap();
    let states = store.alert_states().unwrap();
    assert!(!states[0].firing);
    assert_eq!(states[0].since, None);
    let events = store.alert_events("a", 10).unwrap();
    assert_eq!(
        events,
        vec![transition("a", false, 400), transition("a", true, 100)]
    );
    assert_eq!(store.alert_events("a", 1).unwrap().len(), 1);
}

fn concurrent_appends_are_all_durable(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    store
                        .append(vec![
                            row("a", (i % 5) * 5, 1, 2),
                            row(&format!("t{t}"), 0, 1, 1),
                        ])
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let rows = store.samples_since("a", 0).unwrap();
    assert_eq!(rows.iter().map(|r| r.1).sum::<u64>(), 400);
    assert_eq!(rows.iter().map(|r| r.2).sum::<u64>(), 800);
    assert_eq!(rows.len(), 5);
    for t in 0..8 {
        assert_eq!(
            store.samples_since(&format!("t{t}"), 0).unwrap(),
            vec![(0, 50, 50)]
        );
    }
}

fn ping_answers(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    store.ping().unwrap();
}

macro_rules! conformance_suite {
    ($backend:ident: $($test:ident),* $(,)?) => {
        mod $backend {
            $(
                #[test]
                fn $test() {
                    super::$test(super::$backend());
                }
            )*
        }
    };
}

conformance_suite!(sqlite:
    appended_counts_add_up_per_bucket,
    large_counts_are_kept_exactly,
    data_survives_reopening_and_migrations_run_once,
    transitions_keep_the_current_state_and_the_history,
    concurrent_appends_are_all_durable,
    ping_answers,
);
conformance_suite!(postgres:
    appended_counts_add_up_per_bucket,
    large_counts_are_kept_exactly,
    data_survives_reopening_and_migrations_run_once,
    transitions_keep_the_current_state_and_the_history,
    concurrent_appends_are_all_durable,
    ping_answers,
);

#[test]
fn unsupported_url_is_a_clear_error() {
    let err = Store::open("mysql://x").err().unwrap().to_string();
    assert_eq!(
        err,
        "unsupported store URL `mysql://x`; use sqlite://PATH or postgres://USER@HOST:PORT/DB"
    );
}

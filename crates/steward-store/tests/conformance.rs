//! One conformance suite, run against SQLite and PostgreSQL in the same test run.
//!
//! PostgreSQL is expected at 127.0.0.1:5432 (user postgres, database test), or at
//! `STEWARD_TEST_POSTGRES`. When it cannot be reached the PostgreSQL tests fail; they never
//! skip.

use steward_store::{
    ActionItem, AlertFilter, AlertStatus, AlertTransition, Appended, AuditQuery, Change,
    ChangeKind, ChangeStatus, Escalation, IncidentStatus, IngestKey, MessageStatus, Moved,
    NewAlert, NewIncident, NewMessage, NewToken, Override, Rewrite, RewriteStats, Run, RunMode,
    RunStatus, SeriesId, SeriesRow, Silence, Store, StoreError, Switch, TokenKind, Triggered,
    Verified,
};

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

fn row(series: SeriesId, bucket: i64, good: u64, total: u64) -> SeriesRow {
    SeriesRow {
        series,
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

fn ids(store: &Store, names: &[&str]) -> Vec<SeriesId> {
    store
        .series(names.iter().map(|n| n.to_string()).collect())
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect()
}

fn series_get_ids_once_and_keep_them(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    let first = ids(&store, &["checkout", "search:p95"]);
    assert_ne!(first[0], first[1]);
    assert_eq!(
        ids(&store, &["search:p95", "checkout"]),
        vec![first[1], first[0]]
    );
    let info = store.series(vec!["checkout".into()]).unwrap();
    assert_eq!(info[0].units_through, i64::MIN);
}

fn appended_counts_add_up_per_series_and_bucket(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    let [a, b] = ids(&store, &["a", "b"])[..] else {
        unreachable!()
    };
    store
        .append(
            vec![
                row(a, 100, 9, 10),
                row(a, 100, 1, 5),
                row(a, 105, 0, 1),
                row(b, 100, 7, 7),
            ],
            None,
        )
        .unwrap();
    store.append(vec![row(a, 100, 5, 5)], None).unwrap();
    assert_eq!(store.rows(a, 0).unwrap(), vec![(100, 15, 20), (105, 0, 1)]);
    assert_eq!(store.rows(a, 101).unwrap(), vec![(105, 0, 1)]);
    assert_eq!(store.rows(b, 0).unwrap(), vec![(100, 7, 7)]);
    assert_eq!(store.rows(b + 1000, 0).unwrap(), vec![]);
}

fn large_counts_are_kept_exactly(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    let a = ids(&store, &["a"])[0];
    let big = 1_000_000_000_000_000u64;
    store.append(vec![row(a, 0, big - 1, big)], None).unwrap();
    store.append(vec![row(a, 0, big, big)], None).unwrap();
    assert_eq!(store.rows(a, 0).unwrap(), vec![(0, 2 * big - 1, 2 * big)]);
}

/// Problem 2 of the spine issue: a batch whose sum overflowed failed the valid batches
/// committed in the same group (PostgreSQL), or was stored as a REAL that made the store
/// unreadable (SQLite). Now it fails alone, and the store stays readable.
fn a_batch_that_fails_never_fails_the_others_of_its_commit_group(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    let [good, bad] = ids(&store, &["good", "bad"])[..] else {
        unreachable!()
    };
    let half = 1u64 << 62;
    store.append(vec![row(bad, 0, half, half)], None).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut refused = 0;
                for i in 0..40 {
                    if (t + i) % 2 == 0 {
                        // Past i64::MAX once added to what is stored.
                        if store.append(vec![row(bad, 0, half, half)], None).is_err() {
                            refused += 1;
                        }
                    } else {
                        store
                            .append(vec![row(good, i as i64 * 5, 1, 2)], None)
                            .unwrap();
                    }
                }
                refused
            })
        })
        .collect();
    let refused: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(refused, 160);
    let rows = store.rows(good, 0).unwrap();
    assert_eq!(rows.iter().map(|r| r.1).sum::<u64>(), 160);
    assert_eq!(rows.iter().map(|r| r.2).sum::<u64>(), 320);
    assert_eq!(store.rows(bad, 0).unwrap(), vec![(0, half, half)]);
    drop(store);
    let store = reopen(&f.url);
    assert_eq!(store.rows(bad, 0).unwrap(), vec![(0, half, half)]);
}

fn key(k: &str, body_hash: i64, accepted: u64, at: i64) -> Option<IngestKey> {
    Some(IngestKey {
        key: k.into(),
        body_hash,
        accepted,
        at,
    })
}

fn a_batch_retried_with_its_key_is_stored_once(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    let a = ids(&store, &["a"])[0];
    assert_eq!(
        store
            .append(vec![row(a, 0, 1, 1)], key("k1", 42, 1, 1000))
            .unwrap(),
        Appended::Stored
    );
    assert_eq!(
        store
            .append(vec![row(a, 0, 1, 1)], key("k1", 42, 1, 1001))
            .unwrap(),
        Appended::Duplicate {
            body_hash: 42,
            accepted: 1
        }
    );
    assert_eq!(store.rows(a, 0).unwrap(), vec![(0, 1, 1)]);
    // Keys expire; then the same key is a new batch.
    assert_eq!(store.expire_keys(1000).unwrap(), 0);
    assert_eq!(store.expire_keys(1001).unwrap(), 1);
    store
        .append(vec![row(a, 0, 1, 1)], key("k1", 7, 1, 2000))
        .unwrap();
    assert_eq!(store.rows(a, 0).unwrap(), vec![(0, 2, 2)]);
}

fn scan_streams_every_row_in_order(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    let [a, b] = ids(&store, &["a", "b"])[..] else {
        unreachable!()
    };
    let rows: Vec<SeriesRow> = (0..20_000)
        .map(|i| row(if i % 2 == 0 { b } else { a }, i, 1, 1))
        .collect();
    store.append(rows, None).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    store
        .scan(move |chunk| tx.send(chunk.to_vec()).unwrap())
        .unwrap();
    let seen: Vec<SeriesRow> = rx.try_iter().flatten().collect();
    assert_eq!(seen.len(), 20_000);
    assert!(seen
        .windows(2)
        .all(|w| (w[0].series, w[0].bucket) < (w[1].series, w[1].bucket)));
}

fn rewrites_replace_ranges_and_deletes_drop_old_rows(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    let [a, b] = ids(&store, &["a", "b"])[..] else {
        unreachable!()
    };
    store
        .append(
            vec![
                row(a, 0, 1, 1),
                row(a, 5, 1, 2),
                row(a, 60, 3, 3),
                row(a, 120, 1, 1),
                row(b, 0, 1, 1),
            ],
            None,
        )
        .unwrap();
    let merge: steward_store::RowMap = Box::new(|rows| {
        let good = rows.iter().map(|r| r.1).sum();
        let total = rows.iter().map(|r| r.2).sum();
        vec![(0, good, total)]
    });
    let stats = store
        .rewrite(
            vec![Rewrite {
                series: a,
                from: 0,
                to: 120,
                with: merge,
                units_through: Some(120),
            }],
            vec![(b, 1)],
        )
        .unwrap();
    assert_eq!(
        stats,
        RewriteStats {
            rows_before: 3,
            rows_after: 1,
            deleted: 1
        }
    );
    assert_eq!(store.rows(a, 0).unwrap(), vec![(0, 5, 6), (120, 1, 1)]);
    assert_eq!(store.rows(b, 0).unwrap(), vec![]);
    assert_eq!(
        store.series(vec!["a".into()]).unwrap()[0].units_through,
        120
    );
    assert_eq!(store.footprint().unwrap().rows, 2);
}

fn meta_values_are_kept(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    assert_eq!(store.meta("last_rollup").unwrap(), None);
    store.set_meta("last_rollup", 12).unwrap();
    store.set_meta("last_rollup", 13).unwrap();
    drop(store);
    assert_eq!(reopen(&f.url).meta("last_rollup").unwrap(), Some(13));
}

fn a_second_engine_on_the_same_database_is_refused(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    store.ping().unwrap();
    let second = Store::open(&f.url).err().expect("a second store opened");
    assert!(matches!(second, StoreError::Locked), "{second}");
    assert!(second
        .to_string()
        .contains("another steward serve is running"));
}

/// Opens a store whose previous handle was just dropped: its thread lets go of the database
/// a moment later.
fn reopen(url: &str) -> Store {
    for _ in 0..50 {
        match Store::open(url) {
            Ok(s) => return s,
            Err(StoreError::Locked) => std::thread::sleep(std::time::Duration::from_millis(100)),
            Err(e) => panic!("{e}"),
        }
    }
    panic!("the store stayed locked after its handle was dropped");
}

fn data_survives_reopening_and_migrations_run_once(f: Fixture) {
    let a = {
        let store = Store::open(&f.url).unwrap();
        let a = ids(&store, &["a"])[0];
        store.append(vec![row(a, 10, 1, 2)], None).unwrap();
        store
            .record_transitions(vec![transition("a", true, 50)])
            .unwrap();
        a
    };
    let store = reopen(&f.url);
    assert_eq!(ids(&store, &["a"]), vec![a]);
    assert_eq!(store.rows(a, 0).unwrap(), vec![(10, 1, 2)]);
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
    let a = ids(&store, &["a"])[0];
    let per_thread: Vec<SeriesId> = ids(&store, &["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"]);
    let threads: Vec<_> = per_thread
        .iter()
        .map(|&t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    store
                        .append(vec![row(a, (i % 5) * 5, 1, 2), row(t, 0, 1, 1)], None)
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let rows = store.rows(a, 0).unwrap();
    assert_eq!(rows.iter().map(|r| r.1).sum::<u64>(), 400);
    assert_eq!(rows.iter().map(|r| r.2).sum::<u64>(), 800);
    assert_eq!(rows.len(), 5);
    for t in per_thread {
        assert_eq!(store.rows(t, 0).unwrap(), vec![(0, 50, 50)]);
    }
}

/// Problem 8 of the spine issue: queues to the store were unbounded, so a store that could
/// not keep up grew memory without limit. A full queue now refuses appends at once.
fn a_full_queue_refuses_appends_at_once(f: Fixture) {
    use std::sync::mpsc;
    use std::time::Duration;
    let store = Store::open(&f.url).unwrap();
    let a = ids(&store, &["a"])[0];
    store.append(vec![row(a, 0, 1, 1)], None).unwrap();
    // Hold the store's thread inside a scan while appends queue up.
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let scanner = {
        let store = store.clone();
        std::thread::spawn(move || {
            store.scan(move |_| {
                started_tx.send(()).unwrap();
                release_rx.recv_timeout(Duration::from_secs(60)).unwrap();
            })
        })
    };
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let senders = steward_store::MAX_QUEUED + 40;
    let threads: Vec<_> = (0..senders)
        .map(|i| {
            let store = store.clone();
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || store.append(vec![row(a, 5 + i as i64 * 5, 1, 1)], None))
                .unwrap()
        })
        .collect();
    let stats = store.stats();
    let settled = std::time::Instant::now();
    let waiting = || {
        let busy = stats.busy.load(std::sync::atomic::Ordering::SeqCst) as usize;
        stats.queued.load(std::sync::atomic::Ordering::SeqCst) + busy
    };
    while waiting() < senders {
        assert!(
            settled.elapsed() < Duration::from_secs(30),
            "the senders did not settle"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    release_tx.send(()).unwrap();
    scanner.join().unwrap().unwrap();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let busy = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::Busy(_))))
        .count();
    assert_eq!(busy, 40);
    assert!(results.iter().filter(|r| r.is_ok()).count() == steward_store::MAX_QUEUED);
    assert_eq!(
        store.rows(a, 0).unwrap().len(),
        1 + steward_store::MAX_QUEUED
    );
}

fn evidence_pages_overdue_items_and_readiness_days_are_kept(f: Fixture) {
    use steward_store::{Evidence, ReadinessDay};
    let store = Store::open(&f.url).unwrap();
    let ev_of = |service: &str, control: &str, done_at: i64| Evidence {
        id: 0,
        service: service.into(),
        customer: Some("acme".into()),
        control: control.into(),
        link: "https://wiki.example.com/drill".into(),
        note: "restored yesterday's backup".into(),
        done_at,
        recorded_by: "user:ann".into(),
        recorded_at: 500,
    };
    let other = ev_of("search", "backup", 900);
    let ev = move |control: &str, done_at: i64| ev_of("checkout", control, done_at);
    let (a, b) = store
        .transact(move |tx| {
            let a = tx.add_evidence(&ev("backup", 100))?;
            let b = tx.add_evidence(&ev("backup", 300))?;
            tx.add_evidence(&ev("access-review", 200))?;
            Ok((a, b))
        })
        .unwrap();
    assert!(b.id > a.id);
    assert_eq!(b.done_at, 300);
    let mut latest = store.transact(|tx| tx.latest_evidence(None)).unwrap();
    latest.sort();
    assert_eq!(
        latest,
        [
            ("checkout".to_string(), "access-review".to_string(), 200),
            ("checkout".to_string(), "backup".to_string(), 300)
        ]
    );
    // Another service's evidence is its own.
    store
        .transact(move |tx| {
            tx.add_evidence(&other)?;
            Ok(())
        })
        .unwrap();
    let newest = store.transact(|tx| tx.newest_evidence("checkout")).unwrap();
    assert_eq!(
        newest
            .iter()
            .map(|e| (e.control.as_str(), e.done_at))
            .collect::<Vec<_>>(),
        [("access-review", 200), ("backup", 300)]
    );
    assert_eq!(newest[1], b);
    let mut latest = store.transact(|tx| tx.latest_evidence(None)).unwrap();
    latest.sort();
    assert_eq!(latest.len(), 3);
    assert_eq!(latest[2], ("search".to_string(), "backup".to_string(), 900));
    let of = store.transact(|tx| tx.evidence_of("checkout", 2)).unwrap();
    assert_eq!(of.iter().map(|e| e.done_at).collect::<Vec<_>>(), [300, 200]);
    assert_eq!(of[0], b);

    // Pages: alerts that notified someone, from their first notification; a ticket and an
    // alert that reached nobody are no pages.
    store
        .transact(|tx| {
            let p = tx.trigger(&new_alert("paged", 1000))?.alert().clone();
            tx.set_policy(p.id, Some("storefront"))?;
            tx.log(p.id, 1010, "notified", "steward", "step 1")?;
            tx.log(p.id, 1300, "notified", "steward", "step 2")?;
            tx.acknowledge(p.id, "user:ann", 1400)?;
            let quiet = tx.trigger(&new_alert("unreached", 1000))?.alert().clone();
            tx.log(quiet.id, 1010, "unreached", "steward", "nobody")?;
            let mut t = new_alert("ticket", 1000);
            t.urgency = steward_model::Severity::Ticket;
            let t = tx.trigger(&t)?.alert().clone();
            tx.log(t.id, 1010, "notified", "steward", "step 1")?;
            let old = tx.trigger(&new_alert("old", 10))?.alert().clone();
            tx.log(old.id, 11, "notified", "steward", "step 1")?;
            Ok(())
        })
        .unwrap();
    assert_eq!(
        store
            .transact(|tx| tx.pages_since(500, Some("search")))
            .unwrap(),
        []
    );
    let pages = store
        .transact(|tx| tx.pages_since(500, Some("checkout")))
        .unwrap();
    assert_eq!(
        pages,
        store.transact(|tx| tx.pages_since(500, None)).unwrap()
    );
    assert_eq!(pages.len(), 1, "{pages:?}");
    assert_eq!(
        (
            pages[0].paged_at,
            pages[0].acknowledged_at,
            pages[0].acknowledged_by.as_deref(),
            pages[0].policy.as_deref(),
            pages[0].service.as_deref()
        ),
        (
            1010,
            Some(1400),
            Some("user:ann"),
            Some("storefront"),
            Some("checkout")
        )
    );

    // Overdue items: open ones due before now, with their incident's service.
    store
        .transact(|tx| {
            let i = tx.declare_incident(
                &NewIncident {
                    title: "checkout down".into(),
                    severity: "SEV2".into(),
                    service: "checkout".into(),
                    customer: None,
                    started_at: 100,
                    declared_at: 100,
                    impact_started_at: None,
                    actor: "user:ann".into(),
                },
                "declared",
            )?;
            for (title, due) in [
                ("due later", Some(5000)),
                ("overdue", Some(2000)),
                ("no date", None),
                ("due this very second", Some(3000)),
                ("overdue but closed", Some(1000)),
            ] {
                let item = tx.add_action_item(&ActionItem {
                    id: 0,
                    incident: i.id,
                    title: title.into(),
                    owner: "ann".into(),
                    due_at: due,
                    status: "open".into(),
                    verified: None,
                    created_at: 100,
                    created_by: "user:ann".into(),
                    closed_at: None,
                    closed_by: None,
                })?;
                if title.ends_with("closed") {
                    tx.close_action_item(item.id, "tested", "user:ann", 1500)?;
                }
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(
        store
            .transact(|tx| tx.overdue_items(3000, Some("search")))
            .unwrap(),
        []
    );
    assert_eq!(
        store
            .transact(|tx| tx.latest_evidence(Some("search")))
            .unwrap(),
        [("search".to_string(), "backup".to_string(), 900)]
    );
    assert_eq!(
        store
            .transact(|tx| tx.overdue_items(3000, Some("checkout")))
            .unwrap(),
        store.transact(|tx| tx.overdue_items(3000, None)).unwrap()
    );
    // Open alerts and incidents counted by service: four alerts (paged, unreached, the
    // ticket, the old one) and the incident, which has no customer.
    assert_eq!(
        store.transact(|tx| tx.open_by_service(None)).unwrap(),
        [("checkout".to_string(), 4, 1)]
    );
    assert_eq!(
        store
            .transact(|tx| tx.open_by_service(Some("acme")))
            .unwrap(),
        [("checkout".to_string(), 4, 0)]
    );
    assert_eq!(
        store
            .transact(|tx| tx.open_by_service(Some("globex")))
            .unwrap(),
        []
    );
    let overdue = store.transact(|tx| tx.overdue_items(3000, None)).unwrap();
    assert_eq!(overdue.len(), 1);
    assert_eq!(
        (
            overdue[0].service.as_str(),
            overdue[0].title.as_str(),
            overdue[0].due_at
        ),
        ("checkout", "overdue", 2000)
    );

    // One snapshot a day per service: the last written wins.
    let day = |d: &str, level: &str, failing: &[&str]| ReadinessDay {
        service: "checkout".into(),
        day: d.into(),
        level: level.into(),
        score: 100 - 10 * failing.len() as i64,
        failing: failing.iter().map(|s| s.to_string()).collect(),
    };
    store
        .transact(move |tx| {
            tx.put_readiness_day(&day("2026-11-01", "advanced", &[]))?;
            tx.put_readiness_day(&day("2026-11-02", "advanced", &[]))?;
            tx.put_readiness_day(&day(
                "2026-11-02",
                "intermediate",
                &["evidence", "runbook-rehearsal"],
            ))?;
            Ok(())
        })
        .unwrap();
    let days = store
        .transact(|tx| tx.readiness_days("checkout", "2026-11-02"))
        .unwrap();
    assert_eq!(
        days,
        [day(
            "2026-11-02",
            "intermediate",
            &["evidence", "runbook-rehearsal"]
        )]
    );
    assert_eq!(
        store
            .transact(|tx| tx.readiness_days("checkout", "2026-10-01"))
            .unwrap()
            .len(),
        2
    );
}

fn ping_answers(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    store.ping().unwrap();
}

fn new_alert(key: &str, at: i64) -> NewAlert {
    NewAlert {
        source: "alertmanager".into(),
        integration: "prom".into(),
        dedup_key: key.into(),
        service: Some("checkout".into()),
        customer: Some("acme".into()),
        severity: "page".into(),
        urgency: steward_model::Severity::Page,
        summary: format!("{key} is down"),
        labels: [("alertname".to_string(), "Down".to_string())].into(),
        details: "{}".into(),
        at,
        expires_at: None,
        actor: "integration:prom".into(),
    }
}

fn an_open_dedup_key_updates_its_alert_and_a_resolved_one_opens_a_new_alert(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    let (first, repeat, other) = store
        .transact(|tx| {
            let first = tx.trigger(&new_alert("k1", 100))?;
            let mut again = new_alert("k1", 110);
            again.summary = "still down".into();
            let repeat = tx.trigger(&again)?;
            let mut other = new_alert("k1", 120);
            other.integration = "other".into();
            Ok((first, repeat, tx.trigger(&other)?))
        })
        .unwrap();
    let Triggered::Opened(a) = first else {
        panic!("{first:?}")
    };
    let Triggered::Repeated(r, _) = repeat else {
        panic!("{repeat:?}")
    };
    assert_eq!(r.id, a.id);
    assert_eq!(
        (r.events, r.summary.as_str(), r.opened_at, r.updated_at),
        (2, "still down", 100, 110)
    );
    assert_eq!(r.customer.as_deref(), Some("acme"));
    assert!(
        matches!(other, Triggered::Opened(ref o) if o.id != a.id),
        "another integration's key is another alert"
    );

    let resolved = store
        .transact(move |tx| tx.resolve(a.id, "user:ann", 130))
        .unwrap()
        .unwrap();
    assert_eq!(resolved.status, AlertStatus::Resolved);
    assert_eq!(
        (resolved.resolved_at, resolved.resolved_by.as_deref()),
        (Some(130), Some("user:ann"))
    );
    let reopened = store
        .transact(|tx| tx.trigger(&new_alert("k1", 140)))
        .unwrap();
    let Triggered::Opened(n) = reopened else {
        panic!("{reopened:?}")
    };
    assert_ne!(n.id, a.id);
    let history = store.transact(move |tx| tx.history(a.id)).unwrap();
    let kinds: Vec<(&str, &str)> = history
        .iter()
        .map(|e| (e.kind.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![("triggered", "integration:prom"), ("resolved", "user:ann")]
    );
}

fn acknowledging_stops_the_escalation_and_only_a_triggered_alert_is_acknowledged(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    let id = store
        .transact(|tx| {
            let id = tx.trigger(&new_alert("k", 100))?.alert().id;
            tx.start_escalation(id, "default", 100)?;
            Ok(id)
        })
        .unwrap();
    let due = store.transact(|tx| tx.due_escalations(100, 10)).unwrap();
    assert_eq!(
        due,
        vec![Escalation {
            alert: id,
            policy: "default".into(),
            step: 0,
            round: 0,
            next_at: 100,
            started_at: 100,
        }]
    );
    store
        .transact(move |tx| {
            tx.set_escalation(&Escalation {
                alert: id,
                policy: "default".into(),
                step: 1,
                round: 0,
                next_at: 400,
                started_at: 100,
            })
        })
        .unwrap();
    assert!(store
        .transact(|tx| tx.due_escalations(399, 10))
        .unwrap()
        .is_empty());
    assert_eq!(
        store.transact(|tx| tx.due_escalations(400, 10)).unwrap()[0].step,
        1
    );
    let acked = store
        .transact(move |tx| tx.acknowledge(id, "user:bob", 200))
        .unwrap()
        .unwrap();
    assert_eq!(acked.status, AlertStatus::Acknowledged);
    assert_eq!(acked.acknowledged_by.as_deref(), Some("user:bob"));
    assert!(store
        .transact(|tx| tx.due_escalations(i64::MAX, 10))
        .unwrap()
        .is_empty());
    // Acknowledging again changes nothing; a missing alert is None.
    let again = store
        .transact(move |tx| tx.acknowledge(id, "user:eve", 300))
        .unwrap()
        .unwrap();
    assert_eq!(
        (again.acknowledged_at, again.acknowledged_by.as_deref()),
        (Some(200), Some("user:bob"))
    );
    assert_eq!(
        store
            .transact(|tx| tx.acknowledge(999_999, "user:eve", 300))
            .unwrap(),
        None
    );
    let listed = store
        .transact(|tx| {
            tx.alerts(&AlertFilter {
                status: Some(AlertStatus::Acknowledged),
                service: Some("checkout".into()),
                ..AlertFilter::default()
            })
        })
        .unwrap();
    assert_eq!(listed.iter().map(|a| a.id).collect::<Vec<_>>(), vec![id]);
}

fn message(key: &str, at: i64) -> NewMessage {
    NewMessage {
        alert: None,
        service: Some("checkout".into()),
        customer: None,
        channel: steward_model::catalog::Channel::Webhook,
        destination: "http://127.0.0.1:9/hook".into(),
        payload: "{}".into(),
        idempotency_key: key.into(),
        at,
        due_at: at,
        give_up_at: at + 3600,
        created_by: "steward".into(),
        group_key: None,
    }
}

fn the_outbox_queues_a_key_once_retries_and_keeps_dead_letters(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    let (first, again) = store
        .transact(|tx| {
            Ok((
                tx.queue(&message("n-1", 100))?,
                tx.queue(&message("n-1", 100))?,
            ))
        })
        .unwrap();
    let id = first.expect("queued");
    assert_eq!(again, None, "the same idempotency key is queued once");
    assert_eq!(
        store.transact(|tx| tx.next_message_at()).unwrap(),
        Some(100)
    );
    store
        .transact(move |tx| tx.retry_later(id, 1, 160, "HTTP 500"))
        .unwrap();
    assert!(store
        .transact(|tx| tx.due_messages(159, 10))
        .unwrap()
        .is_empty());
    let due = store.transact(|tx| tx.due_messages(160, 10)).unwrap();
    assert_eq!(
        (due[0].attempts, due[0].last_error.as_deref()),
        (1, Some("HTTP 500"))
    );
    store
        .transact(move |tx| tx.dead(id, 5, "gave up after 5 attempts: HTTP 500"))
        .unwrap();
    assert!(store
        .transact(|tx| tx.due_messages(i64::MAX, 10))
        .unwrap()
        .is_empty());
    let dead = store.transact(|tx| tx.dead_letters(10)).unwrap();
    assert_eq!((dead[0].id, dead[0].status), (id, MessageStatus::Dead));
    assert!(store.transact(move |tx| tx.requeue(id, 500, 900)).unwrap());
    assert!(
        !store.transact(move |tx| tx.requeue(id, 500, 900)).unwrap(),
        "only a dead letter is requeued"
    );
    let m = store.transact(move |tx| tx.message(id)).unwrap().unwrap();
    assert_eq!(
        (
            m.status,
            m.next_attempt_at,
            m.give_up_at,
            m.idempotency_key.as_str()
        ),
        (MessageStatus::Pending, 500, 900, "n-1")
    );
    store.transact(move |tx| tx.delivered(id, 6, 501)).unwrap();
    assert_eq!(store.transact(|tx| tx.next_message_at()).unwrap(), None);
}

fn a_group_is_delivered_as_one_batch_that_succeeds_or_fails_together(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    let grouped = |key: &str, group: &str, at: i64| NewMessage {
        group_key: Some(group.into()),
        ..message(key, at)
    };
    let leader = store
        .transact(move |tx| {
            let id = tx.queue(&grouped("g-1", "checkout", 100))?.unwrap();
            tx.queue(&grouped("g-2", "checkout", 105))?;
            tx.queue(&grouped("g-3", "checkout", 110))?;
            tx.queue(&NewMessage {
                destination: "http://127.0.0.1:9/other".into(),
                ..grouped("o-1", "payments", 100)
            })?;
            Ok(tx.message(id)?.unwrap())
        })
        .unwrap();
    let batch = store.transact(move |tx| tx.claim_batch(&leader)).unwrap();
    let keys: Vec<&str> = batch.iter().map(|m| m.idempotency_key.as_str()).collect();
    assert_eq!(keys, ["g-1", "g-2", "g-3"]);
    // Only the leader is due as a delivery; the other destination's on its own.
    let due: Vec<String> = store
        .transact(|tx| tx.due_messages(1000, 10))
        .unwrap()
        .into_iter()
        .map(|m| m.idempotency_key)
        .collect();
    assert_eq!(due, ["g-1", "o-1"]);
    let id = batch[0].id;
    store
        .transact(move |tx| tx.retry_later(id, 1, 200, "HTTP 503"))
        .unwrap();
    assert!(store
        .transact(move |tx| tx.batch(id))
        .unwrap()
        .iter()
        .all(|m| m.next_attempt_at == 200 && m.attempts == 1));
    store.transact(move |tx| tx.delivered(id, 2, 201)).unwrap();
    let all = store.transact(move |tx| tx.batch(id)).unwrap();
    assert!(
        all.iter().all(|m| m.status == MessageStatus::Delivered),
        "{all:?}"
    );
    assert_eq!(
        store
            .transact(|tx| tx.group_timing("http://127.0.0.1:9/hook", "checkout"))
            .unwrap()
            .last_delivery,
        Some(201)
    );
    assert_eq!(
        store
            .transact(|tx| tx.group_timing("http://127.0.0.1:9/hook", "payments"))
            .unwrap()
            .last_delivery,
        None
    );
}

/// Found in review: a batch whose leader was left out stayed pending for ever, and a batch
/// member retried alone was never sent.
fn a_batch_moves_to_a_new_leader_and_only_a_leader_is_retried(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    let grouped = |key: &str| NewMessage {
        group_key: Some("g".into()),
        ..message(key, 100)
    };
    let (a, b, c) = store
        .transact(move |tx| {
            let a = tx.queue(&grouped("a"))?.unwrap();
            let b = tx.queue(&grouped("b"))?.unwrap();
            let c = tx.queue(&grouped("c"))?.unwrap();
            let leader = tx.message(a)?.unwrap();
            tx.claim_batch(&leader)?;
            tx.skip(a)?;
            tx.relead(a, b)?;
            Ok((a, b, c))
        })
        .unwrap();
    let due: Vec<i64> = store
        .transact(|tx| tx.due_messages(1000, 10))
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        due,
        vec![b],
        "the new leader is due; the skipped one and the member are not"
    );
    let members: Vec<i64> = store
        .transact(move |tx| tx.batch(b))
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(members, vec![b, c]);
    store.transact(move |tx| tx.dead(b, 3, "HTTP 500")).unwrap();
    assert!(
        !store.transact(move |tx| tx.requeue(c, 200, 900)).unwrap(),
        "a member is retried with its leader"
    );
    assert!(
        !store.transact(move |tx| tx.requeue(a, 200, 900)).unwrap(),
        "a skipped message is no dead letter"
    );
    assert!(store.transact(move |tx| tx.requeue(b, 200, 900)).unwrap());
    let after = store.transact(move |tx| tx.batch(b)).unwrap();
    assert!(
        after.iter().all(|m| m.status == MessageStatus::Pending),
        "{after:?}"
    );
}

fn changes_are_kept_and_listed_newest_first_per_service(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    let change = |service: &str, at: i64| Change {
        id: 0,
        service: service.into(),
        customer: Some("acme".into()),
        kind: ChangeKind::Deploy,
        version: Some(format!("v{at}")),
        status: ChangeStatus::Succeeded,
        link: None,
        labels: Default::default(),
        at,
        commit_at: Some(at - 60),
        created_by: "user:ci".into(),
        created_at: at,
    };
    let stored = store
        .transact(move |tx| {
            tx.add_change(&change("checkout", 100))?;
            tx.add_change(&change("search", 150))?;
            tx.add_change(&change("checkout", 200))
        })
        .unwrap();
    assert!(stored.id > 0);
    assert_eq!(stored.commit_at, Some(140));
    let listed = store
        .transact(|tx| tx.changes(Some("checkout"), 0, 1000, 10))
        .unwrap();
    assert_eq!(
        listed.iter().map(|c| c.at).collect::<Vec<_>>(),
        vec![200, 100]
    );
    assert_eq!(
        store
            .transact(|tx| tx.changes(None, 120, 1000, 10))
            .unwrap()
            .len(),
        2
    );
}

fn silences_overrides_and_heartbeats_are_kept(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    let s = Silence {
        id: 0,
        matchers: r#"[{"name":"service","value":"checkout","isRegex":false,"isEqual":true}]"#
            .into(),
        starts_at: 100,
        ends_at: 200,
        created_by: "ann".into(),
        comment: "deploy".into(),
        updated_at: 90,
        integration: None,
    };
    let id = store.transact(move |tx| tx.add_silence(&s)).unwrap();
    assert!(store
        .transact(move |tx| tx.expire_silence(id, 150))
        .unwrap());
    let got = store.transact(move |tx| tx.silence(id)).unwrap().unwrap();
    assert_eq!(
        (got.starts_at, got.ends_at, got.updated_at),
        (100, 150, 150)
    );
    // A silence expired before it starts ends as it starts.
    assert!(store.transact(move |tx| tx.expire_silence(id, 50)).unwrap());
    assert_eq!(store.transact(|tx| tx.silences()).unwrap()[0].ends_at, 100);
    assert!(!store.transact(|tx| tx.expire_silence(424_242, 50)).unwrap());

    let o = Override {
        id: 0,
        schedule: "primary".into(),
        user: "bob".into(),
        starts_at: 1000,
        ends_at: 2000,
        created_by: "user:ann".into(),
    };
    let oid = store.transact(move |tx| tx.add_override(&o, 10)).unwrap();
    assert_eq!(
        store.transact(|tx| tx.overrides(1999, 5000)).unwrap()[0].id,
        oid
    );
    assert!(store
        .transact(|tx| tx.overrides(2000, 5000))
        .unwrap()
        .is_empty());
    assert!(store.transact(move |tx| tx.delete_override(oid)).unwrap());

    store
        .transact(|tx| {
            tx.beat("cron", 10)?;
            tx.beat("cron", 20)?;
            tx.beat("backup", 5)
        })
        .unwrap();
    assert_eq!(
        store.transact(|tx| tx.heartbeats()).unwrap(),
        vec![("backup".to_string(), 5), ("cron".to_string(), 20)]
    );
}

fn a_failed_transaction_leaves_nothing_behind(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    let err = store
        .transact(|tx| {
            tx.trigger(&new_alert("k", 100))?;
            Err::<(), _>(StoreError::Rejected("refused on purpose".into()))
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected(_)), "{err}");
    assert!(store
        .transact(|tx| tx.alerts(&AlertFilter::default()))
        .unwrap()
        .is_empty());
}

fn incidents_move_forward_acknowledge_their_alerts_and_keep_roles_and_items(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    let (id, alert) = store
        .transact(|tx| {
            let i = tx.declare_incident(
                &NewIncident {
                    title: "checkout down".into(),
                    severity: "SEV2".into(),
                    service: "checkout".into(),
                    customer: Some("acme".into()),
                    started_at: 100,
                    declared_at: 100,
                    impact_started_at: Some(40),
                    actor: "user:ann".into(),
                },
                "declared by user:ann",
            )?;
            let a = tx.trigger(&new_alert("k", 100))?.alert().clone();
            tx.start_escalation(a.id, "default", 100)?;
            tx.join_incident(i.id, &a, 101)?;
            Ok((i.id, a.id))
        })
        .unwrap();
    // Acknowledging the incident acknowledges its alert and stops its escalation.
    let moved = store
        .transact(move |tx| tx.move_incident(id, IncidentStatus::Acknowledged, "user:bob", 130))
        .unwrap()
        .unwrap();
    let Moved::Moved(i) = moved else {
        panic!("{moved:?}")
    };
    assert_eq!(
        (i.status, i.acknowledged_at, i.acknowledged_by.as_deref()),
        (IncidentStatus::Acknowledged, Some(130), Some("user:bob"))
    );
    let a = store.transact(move |tx| tx.alert(alert)).unwrap().unwrap();
    assert_eq!(
        (a.status, a.incident),
        (AlertStatus::Acknowledged, Some(id))
    );
    assert!(store
        .transact(|tx| tx.due_escalations(1000, 10))
        .unwrap()
        .is_empty());
    // Forward only.
    store
        .transact(move |tx| tx.move_incident(id, IncidentStatus::Resolved, "user:bob", 200))
        .unwrap();
    let again = store
        .transact(move |tx| tx.move_incident(id, IncidentStatus::Mitigated, "user:bob", 300))
        .unwrap()
        .unwrap();
    assert!(
        matches!(again, Moved::Already(ref i) if i.status == IncidentStatus::Resolved && i.mitigated_at.is_none() && i.resolved_at == Some(200)),
        "a mitigation nobody recorded stays unrecorded: {again:?}"
    );
    // A role has one holder; action items close with how they were verified.
    let item = store
        .transact(move |tx| {
            tx.set_role(id, "commander", "ann", "user:ann", 110)?;
            tx.set_role(id, "commander", "bob", "user:ann", 120)?;
            tx.add_action_item(&ActionItem {
                id: 0,
                incident: id,
                title: "alert on queue depth".into(),
                owner: "bob".into(),
                due_at: Some(500),
                status: "open".into(),
                verified: None,
                created_at: 210,
                created_by: "user:ann".into(),
                closed_at: None,
                closed_by: None,
            })
        })
        .unwrap();
    let roles = store.transact(move |tx| tx.roles(id)).unwrap();
    assert_eq!(roles.len(), 1);
    assert_eq!(
        (roles[0].person.as_str(), roles[0].assigned_at),
        ("bob", 120)
    );
    assert_eq!(
        store
            .transact(|tx| tx.action_items(None, Some(501)))
            .unwrap(),
        vec![item.clone()]
    );
    assert!(store
        .transact(|tx| tx.action_items(None, Some(500)))
        .unwrap()
        .is_empty());
    let closed = store
        .transact(move |tx| {
            tx.close_action_item(item.id, "alert fired in the drill", "user:bob", 600)
        })
        .unwrap()
        .unwrap();
    assert_eq!(
        (closed.status.as_str(), closed.closed_at),
        ("closed", Some(600))
    );
    assert!(store
        .transact(|tx| tx.action_items(None, Some(10_000)))
        .unwrap()
        .is_empty());
    let kinds: Vec<String> = store
        .transact(move |tx| tx.incident_events(id))
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "declared",
            "alert",
            "role",
            "role",
            "acknowledged",
            "resolved",
            "action_item",
            "action_item_closed"
        ]
    );
    assert_eq!(
        store
            .transact(|tx| tx.open_incident_of("checkout"))
            .unwrap(),
        None
    );
}

fn run_of(target: &str, mode: RunMode, at: i64) -> Run {
    Run {
        id: 0,
        runbook: "restart".into(),
        target: target.into(),
        alert: None,
        incident: None,
        mode,
        status: RunStatus::Running,
        reason: None,
        causation: String::new(),
        labels: Default::default(),
        started_by: "user:ann".into(),
        started_at: at,
        finished_at: None,
        escalated_at: None,
    }
}

fn runs_are_one_at_a_time_per_target_and_counted_for_the_breaker(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    let first = store
        .transact(|tx| tx.insert_run(&run_of("db-1", RunMode::Real, 100)))
        .unwrap();
    // The store itself refuses a second run on the same target while one is in progress.
    assert!(store
        .transact(|tx| tx.insert_run(&run_of("db-1", RunMode::Real, 101)))
        .is_err());
    let other = store
        .transact(|tx| tx.insert_run(&run_of("db-2", RunMode::Real, 102)))
        .unwrap();
    assert_eq!(
        store
            .transact(|tx| tx.active_run("restart", "db-1"))
            .unwrap()
            .map(|r| r.id),
        Some(first.id)
    );
    store
        .transact(move |tx| tx.set_run_status(first.id, RunStatus::Succeeded, None, 110))
        .unwrap();
    let again = store
        .transact(|tx| tx.insert_run(&run_of("db-1", RunMode::Rehearsal, 120)))
        .unwrap();
    store
        .transact(move |tx| tx.set_run_status(again.id, RunStatus::Succeeded, None, 121))
        .unwrap();
    assert_eq!(
        store
            .transact(|tx| tx.real_runs_since("restart", 100))
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .transact(|tx| tx.real_runs_since("restart", 101))
            .unwrap(),
        1
    );
    assert_eq!(
        store.transact(|tx| tx.last_rehearsals()).unwrap(),
        vec![("restart".to_string(), 120)]
    );
    assert_eq!(
        store
            .transact(|tx| tx.runs_in(RunStatus::Running, 10))
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        vec![other.id]
    );
    assert!(store
        .transact(move |tx| tx.approve(other.id, 1, "user:ann", 130))
        .unwrap());
    assert!(!store
        .transact(move |tx| tx.approve(other.id, 1, "user:bob", 131))
        .unwrap());
    assert_eq!(
        store
            .transact(move |tx| tx.approval(other.id, 1))
            .unwrap()
            .as_deref(),
        Some("user:ann")
    );
    let s = Switch {
        name: "runbooks".into(),
        on: true,
        reason: "misbehaving".into(),
        set_by: "user:ann".into(),
        set_at: 140,
    };
    let stored = s.clone();
    store.transact(move |tx| tx.set_switch(&stored)).unwrap();
    assert_eq!(store.transact(|tx| tx.switch("runbooks")).unwrap(), Some(s));
}

/// Resolving an incident resolves its alerts, but leaves open the page of an SLO whose
/// condition still fires: resolving that would only open it again and page again.
fn resolving_an_incident_resolves_its_alerts_and_leaves_a_burning_slo_page_open(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    let (id, other, slo) = store
        .transact(|tx| {
            tx.record_transition(&AlertTransition {
                slo: "checkout-availability".into(),
                long_window: "1h".into(),
                short_window: "5m".into(),
                severity: "page".into(),
                firing: true,
                at: 100,
                long_burn: 20.0,
                short_burn: 30.0,
                factor: 14.4,
            })?;
            let i = tx.declare_incident(
                &NewIncident {
                    title: "checkout down".into(),
                    severity: "SEV2".into(),
                    service: "checkout".into(),
                    customer: None,
                    started_at: 100,
                    declared_at: 100,
                    impact_started_at: None,
                    actor: "user:ann".into(),
                },
                "declared by user:ann",
            )?;
            let other = tx.trigger(&new_alert("k", 100))?.alert().clone();
            let mut burning = new_alert("slo/checkout-availability/page", 100);
            burning.source = "slo".into();
            burning.integration = "steward".into();
            let slo = tx.trigger(&burning)?.alert().clone();
            tx.join_incident(i.id, &other, 101)?;
            tx.join_incident(i.id, &slo, 101)?;
            tx.move_incident(i.id, IncidentStatus::Resolved, "user:ann", 200)?;
            Ok((
                i.id,
                tx.alert(other.id)?.unwrap(),
                tx.alert(slo.id)?.unwrap(),
            ))
        })
        .unwrap();
    assert_eq!(
        (other.status, other.resolved_by.as_deref()),
        (AlertStatus::Resolved, Some("user:ann"))
    );
    assert_eq!(
        (slo.status, slo.incident),
        (AlertStatus::Acknowledged, Some(id))
    );
}

fn tokens_are_kept_as_hashes_found_by_the_token_and_revoked_once(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    let new = NewToken {
        kind: TokenKind::User,
        principal: "ann".into(),
        name: "laptop".into(),
        services: Vec::new(),
        created_by: "cli".into(),
        at: 1_000,
        expires_at: Some(2_000),
        role: None,
    };
    let (made, secret) = store
        .transact({
            let new = new.clone();
            move |tx| tx.create_token(&new)
        })
        .unwrap();
    assert!(secret.starts_with("stw_") && secret.len() == 68, "{secret}");
    assert!(secret[4..].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(made.principal, "ann");
    assert_eq!(made.refusal(1_999), None);
    assert_eq!(made.refusal(2_000), Some("the token has expired"));
    let sender = NewToken {
        kind: TokenKind::Sender,
        principal: "prom".into(),
        services: vec!["checkout".into(), "search".into()],
        expires_at: None,
        ..new
    };
    let (other, other_secret) = store.transact(move |tx| tx.create_token(&sender)).unwrap();
    assert_ne!(secret, other_secret);
    assert_eq!(other.services, ["checkout", "search"]);
    let s = secret.clone();
    let found = store.transact(move |tx| tx.token_of(&s)).unwrap().unwrap();
    assert_eq!(found, made);
    assert_eq!(store.transact(|tx| tx.token_of("stw_0000")).unwrap(), None);
    // A use is noted at most once a minute.
    let id = made.id;
    store.transact(move |tx| tx.touch_token(id, 1_100)).unwrap();
    store.transact(move |tx| tx.touch_token(id, 1_130)).unwrap();
    let t = store.transact(move |tx| tx.token(id)).unwrap().unwrap();
    assert_eq!(t.last_used_at, Some(1_100));
    store.transact(move |tx| tx.touch_token(id, 1_160)).unwrap();
    let t = store.transact(move |tx| tx.token(id)).unwrap().unwrap();
    assert_eq!(t.last_used_at, Some(1_160));
    assert!(store
        .transact(move |tx| tx.revoke_token(id, 1_200))
        .unwrap());
    assert!(!store
        .transact(move |tx| tx.revoke_token(id, 1_300))
        .unwrap());
    let s = secret.clone();
    let revoked = store.transact(move |tx| tx.token_of(&s)).unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(1_200));
    assert_eq!(revoked.refusal(1_201), Some("the token was revoked"));
    let mine = store.transact(|tx| tx.tokens(Some("ann"))).unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(store.transact(|tx| tx.tokens(None)).unwrap().len(), 2);
}

fn a_client_beside_the_engine_shares_its_database(f: Fixture) {
    let engine = Store::open(&f.url).unwrap();
    let client = Store::open_client(&f.url).unwrap();
    let new = NewToken {
        kind: TokenKind::User,
        principal: "admin".into(),
        name: "first".into(),
        services: Vec::new(),
        created_by: "cli".into(),
        at: 10,
        expires_at: None,
        role: None,
    };
    let (made, secret) = client.transact(move |tx| tx.create_token(&new)).unwrap();
    let seen = engine.transact(move |tx| tx.token_of(&secret)).unwrap();
    assert_eq!(seen, Some(made));
    // The engine's lock is still its own.
    assert!(matches!(Store::open(&f.url), Err(StoreError::Locked)));
}

/// Runs SQL on the fixture's database as a database client would, beside Steward.
fn raw(f: &Fixture, sql: &str) {
    match &f.schema {
        Some(schema) => {
            let mut c = ::postgres::Client::connect(&postgres_base(), ::postgres::NoTls).unwrap();
            c.batch_execute(&format!("SET search_path TO {schema}; {sql}"))
                .unwrap();
        }
        None => {
            let path = f.url.strip_prefix("sqlite://").unwrap();
            let c = rusqlite::Connection::open(path).unwrap();
            c.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
            c.execute_batch(sql).unwrap();
        }
    }
}

fn the_audit_trail_is_a_chain_that_names_the_entry_changed_or_removed(f: Fixture) {
    let store = Store::open(&f.url).unwrap();
    for i in 1..=5 {
        store
            .transact(move |tx| {
                tx.audit(
                    100 + i,
                    "user:ana",
                    "kill_switch.set",
                    "runbooks",
                    &format!("{{\"on\":{}}}", i % 2 == 1),
                )
            })
            .unwrap();
    }
    let verify = |s: &Store| s.transact(|tx| tx.verify_audit()).unwrap();
    assert_eq!(
        verify(&store),
        Ok(Verified {
            chained: 5,
            before_chain: 0
        })
    );
    let trail = store
        .transact(|tx| tx.audit_trail(&AuditQuery::default(), 10))
        .unwrap();
    assert_eq!(trail.len(), 5);
    assert_eq!(
        trail[1].prev, trail[0].hash,
        "each entry names the one before; oldest first"
    );
    assert_eq!(trail[0].prev.as_deref(), Some(""));
    // Filters: after an id, since a time, of an actor, of a subject.
    let ids = |q: AuditQuery| -> Vec<i64> {
        store
            .transact(move |tx| tx.audit_trail(&q, 10))
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect()
    };
    assert_eq!(
        ids(AuditQuery {
            after: 2,
            since: Some(105),
            ..Default::default()
        }),
        [5]
    );
    assert_eq!(
        ids(AuditQuery {
            actor: Some("user:bob".into()),
            ..Default::default()
        }),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(AuditQuery {
            actor: Some("user:ana".into()),
            subject: Some("runbooks".into()),
            since: Some(104),
            ..Default::default()
        }),
        [4, 5]
    );

    // Changed by a database client: that entry is named.
    raw(&f, "UPDATE audit SET actor = 'user:mallory' WHERE id = 3");
    assert_eq!(verify(&store).unwrap_err().entry, 3);
    // Put back as it was, the chain holds again.
    raw(&f, "UPDATE audit SET actor = 'user:ana' WHERE id = 3");
    assert!(verify(&store).is_ok());
    // Removed: the entry after the gap is named, and says what happened.
    raw(&f, "DELETE FROM audit WHERE id = 2");
    let broken = verify(&store).unwrap_err();
    assert_eq!(broken.entry, 3);
    assert!(
        broken.why.contains("another entry than 1"),
        "{}",
        broken.why
    );
    // A new entry after the damage chains to the last one; the damage stays found.
    store
        .transact(|tx| tx.audit(200, "user:ana", "x", "y", "{}"))
        .unwrap();
    assert_eq!(verify(&store).unwrap_err().entry, 3);
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
    series_get_ids_once_and_keep_them,
    appended_counts_add_up_per_series_and_bucket,
    large_counts_are_kept_exactly,
    a_batch_that_fails_never_fails_the_others_of_its_commit_group,
    a_batch_retried_with_its_key_is_stored_once,
    scan_streams_every_row_in_order,
    rewrites_replace_ranges_and_deletes_drop_old_rows,
    meta_values_are_kept,
    a_second_engine_on_the_same_database_is_refused,
    data_survives_reopening_and_migrations_run_once,
    transitions_keep_the_current_state_and_the_history,
    concurrent_appends_are_all_durable,
    a_full_queue_refuses_appends_at_once,
    an_open_dedup_key_updates_its_alert_and_a_resolved_one_opens_a_new_alert,
    acknowledging_stops_the_escalation_and_only_a_triggered_alert_is_acknowledged,
    the_outbox_queues_a_key_once_retries_and_keeps_dead_letters,
    silences_overrides_and_heartbeats_are_kept,
    a_group_is_delivered_as_one_batch_that_succeeds_or_fails_together,
    a_batch_moves_to_a_new_leader_and_only_a_leader_is_retried,
    changes_are_kept_and_listed_newest_first_per_service,
    incidents_move_forward_acknowledge_their_alerts_and_keep_roles_and_items,
    resolving_an_incident_resolves_its_alerts_and_leaves_a_burning_slo_page_open,
    runs_are_one_at_a_time_per_target_and_counted_for_the_breaker,
    a_failed_transaction_leaves_nothing_behind,
    tokens_are_kept_as_hashes_found_by_the_token_and_revoked_once,
    a_client_beside_the_engine_shares_its_database,
    the_audit_trail_is_a_chain_that_names_the_entry_changed_or_removed,
    ping_answers,
    evidence_pages_overdue_items_and_readiness_days_are_kept,
);
conformance_suite!(postgres:
    series_get_ids_once_and_keep_them,
    appended_counts_add_up_per_series_and_bucket,
    large_counts_are_kept_exactly,
    a_batch_that_fails_never_fails_the_others_of_its_commit_group,
    a_batch_retried_with_its_key_is_stored_once,
    scan_streams_every_row_in_order,
    rewrites_replace_ranges_and_deletes_drop_old_rows,
    meta_values_are_kept,
    a_second_engine_on_the_same_database_is_refused,
    data_survives_reopening_and_migrations_run_once,
    transitions_keep_the_current_state_and_the_history,
    concurrent_appends_are_all_durable,
    a_full_queue_refuses_appends_at_once,
    an_open_dedup_key_updates_its_alert_and_a_resolved_one_opens_a_new_alert,
    acknowledging_stops_the_escalation_and_only_a_triggered_alert_is_acknowledged,
    the_outbox_queues_a_key_once_retries_and_keeps_dead_letters,
    silences_overrides_and_heartbeats_are_kept,
    a_group_is_delivered_as_one_batch_that_succeeds_or_fails_together,
    a_batch_moves_to_a_new_leader_and_only_a_leader_is_retried,
    changes_are_kept_and_listed_newest_first_per_service,
    incidents_move_forward_acknowledge_their_alerts_and_keep_roles_and_items,
    resolving_an_incident_resolves_its_alerts_and_leaves_a_burning_slo_page_open,
    runs_are_one_at_a_time_per_target_and_counted_for_the_breaker,
    a_failed_transaction_leaves_nothing_behind,
    tokens_are_kept_as_hashes_found_by_the_token_and_revoked_once,
    a_client_beside_the_engine_shares_its_database,
    the_audit_trail_is_a_chain_that_names_the_entry_changed_or_removed,
    ping_answers,
    evidence_pages_overdue_items_and_readiness_days_are_kept,
);

#[test]
fn unsupported_url_is_a_clear_error() {
    let err = Store::open("mysql://x").err().unwrap().to_string();
    assert_eq!(
        err,
        "unsupported store URL `mysql://x`; use sqlite://PATH or postgres://USER@HOST:PORT/DB"
    );
}

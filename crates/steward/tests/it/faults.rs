//! Faults a 3am system must ride out: its PostgreSQL restarting under sustained ingest, and
//! being killed with SIGKILL again and again. Clients retry what was not acknowledged, with
//! the batch's Idempotency-Key, and in the end every batch is counted exactly once.

use crate::api::one_slo_config;
use crate::support::*;
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A PostgreSQL server of the test's own, on its own port in a temporary directory, started
/// and stopped with pg_ctl as the postgres user (never the shared one).
struct PrivatePostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

/// The clients here send as fast as they can, which a token's rate limit would refuse.
const UNLIMITED: &[&str] = &["--rate-limit", "0"];

fn as_postgres(program: &PathBuf, args: &[&str]) -> std::process::Output {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {} as postgres: {e}", program.display()))
}

impl PrivatePostgres {
    fn start() -> PrivatePostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server binaries are in /usr/lib/postgresql/*/bin (scripts/test.sh installs them)")
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("pg_ctl").exists())
            .expect("no pg_ctl under /usr/lib/postgresql");
        let dir = std::env::temp_dir().join(format!("steward-pg-{}-{}", std::process::id(), now()));
        std::fs::create_dir_all(&dir).unwrap();
        let chown = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(
            chown.success(),
            "cannot hand {} to the postgres user",
            dir.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let data = dir.join("data");
        let out = as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pg = PrivatePostgres { bin, dir, port };
        pg.up();
        pg
    }

    fn ctl(&self, args: &[&str]) -> std::process::Output {
        let data = self.dir.join("data");
        let mut all = vec!["-D", data.to_str().unwrap()];
        all.extend_from_slice(args);
        as_postgres(&self.bin.join("pg_ctl"), &all)
    }

    fn up(&self) {
        let log = self.dir.join("log");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let out = self.ctl(&["-w", "-l", log.to_str().unwrap(), "-o", &options, "start"]);
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the server at once, dropping every connection (as a crash or a failover does).
    fn down(&self) {
        let out = self.ctl(&["-w", "-m", "immediate", "stop"]);
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.ctl(&["-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every batch a client made, and which were acknowledged.
#[derive(Default)]
struct Ledger {
    next: u64,
    /// Made and not acknowledged yet: sent again, with the same key, until they are.
    unacknowledged: Vec<u64>,
    /// Being sent by a client right now.
    in_flight: Vec<u64>,
    acknowledged: Vec<u64>,
    /// 503s, and whether each carried Retry-After and a code we expect.
    refusals: u64,
    bad_refusals: Vec<String>,
    /// Answers that are neither 202 nor a proper 503.
    violations: Vec<String>,
}

/// Batch `n`: three samples with `n % 5 + 1` events each, good and bad.
fn batch_body(n: u64) -> String {
    let total = n % 5 + 1;
    format!(
        r#"{{"samples":[{{"slo":"api-availability","good":{total},"total":{total}}},{{"slo":"api-availability","good":0,"total":{total}}},{{"slo":"api-availability","good":{total},"total":{total}}}]}}"#
    )
}

fn batch_total(n: u64) -> u64 {
    3 * (n % 5 + 1)
}

/// Sends one batch (the oldest unacknowledged, or a new one) and books the answer.
fn send_one(agent: &ureq::Agent, base: &str, token: &str, ledger: &Mutex<Ledger>) {
    let n = {
        let mut l = ledger.lock().unwrap();
        let waiting = l
            .unacknowledged
            .iter()
            .copied()
            .find(|n| !l.in_flight.contains(n));
        let n = waiting.unwrap_or_else(|| {
            let n = l.next;
            l.next += 1;
            l.unacknowledged.push(n);
            n
        });
        l.in_flight.push(n);
        n
    };
    let result = agent
        .post(&format!("{base}/api/v1/samples"))
        .header("content-type", "application/json")
        .header("idempotency-key", &format!("fault-test-batch-{n}"))
        .header("authorization", &format!("Bearer {token}"))
        .send(&batch_body(n));
    let mut l = ledger.lock().unwrap();
    l.in_flight.retain(|&m| m != n);
    // An error is the server going away mid-request (SIGKILL): the batch stays
    // unacknowledged.
    if let Ok(mut resp) = result {
        {
            let status = resp.status().as_u16();
            let retry_after = resp.headers().get("retry-after").is_some();
            let body = resp.body_mut().read_to_string().unwrap_or_default();
            match status {
                202 => {
                    l.unacknowledged.retain(|&m| m != n);
                    l.acknowledged.push(n);
                }
                503 => {
                    l.refusals += 1;
                    let known = ["store_unavailable", "rebuilding", "busy"]
                        .iter()
                        .any(|c| body.contains(&format!("\"code\":\"{c}\"")));
                    if !retry_after || !known {
                        l.bad_refusals.push(body);
                    }
                }
                _ => l.violations.push(format!("{status} {body}")),
            }
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// Sends until `stop`, from `clients` threads.
fn ingest_until(
    base: &str,
    token: &str,
    ledger: &Arc<Mutex<Ledger>>,
    stop: &Arc<AtomicBool>,
    clients: usize,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..clients)
        .map(|_| {
            let (base, ledger, stop) = (base.to_string(), ledger.clone(), stop.clone());
            let token = token.to_string();
            std::thread::spawn(move || {
                let agent = agent();
                while !stop.load(Ordering::Relaxed) {
                    send_one(&agent, &base, &token, &ledger);
                }
            })
        })
        .collect()
}

/// Retries every unacknowledged batch until all are acknowledged.
fn settle(base: &str, token: &str, ledger: &Mutex<Ledger>, limit: Duration) {
    let agent = agent();
    let started = Instant::now();
    while !ledger.lock().unwrap().unacknowledged.is_empty() {
        assert!(started.elapsed() < limit, "batches stayed unacknowledged");
        send_one(&agent, base, token, ledger);
        if !ledger.lock().unwrap().unacknowledged.is_empty() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The SLO counts every acknowledged batch once, and nothing else.
fn assert_counted_once(server: &Server, ledger: &Mutex<Ledger>) {
    let l = ledger.lock().unwrap();
    assert!(
        l.violations.is_empty(),
        "unexpected answers: {:?}",
        l.violations
    );
    assert!(
        l.bad_refusals.is_empty(),
        "503s without Retry-After or a known code: {:?}",
        l.bad_refusals
    );
    let expected: u64 = l.acknowledged.iter().map(|&n| batch_total(n)).sum();
    let mut seen = l.acknowledged.clone();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(
        seen.len(),
        l.acknowledged.len(),
        "a batch was acknowledged twice"
    );
    drop(l);
    server.wait_for(
        "/api/v1/slos/api-availability",
        Duration::from_secs(30),
        |b| b["sli"]["total"] == json!(expected),
    );
}

/// Problem 5 of the spine issue: after PostgreSQL restarted, every ingest was a 503 until
/// Steward itself restarted. Now ingest answers 503 with Retry-After while the database is
/// away, never 202 for what it did not store, recovers by itself, and counts every
/// acknowledged sample exactly once.
#[test]
fn postgres_restarting_mid_ingest_loses_and_doubles_nothing() {
    let pg = PrivatePostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let config = one_slo_config(dir.path());
    let server = Server::start_with(&config, &pg.url(), UNLIMITED);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients = ingest_until(&server.base, &server.admin, &ledger, &stop, 4);
    std::thread::sleep(Duration::from_secs(2));
    let before_outage = ledger.lock().unwrap().acknowledged.len();
    assert!(
        before_outage > 0,
        "nothing was acknowledged before the outage"
    );
    pg.down();
    // Give in-flight requests a moment to finish, then nothing may be acknowledged.
    std::thread::sleep(Duration::from_millis(500));
    let (acked_at_down, refusals_at_down) = {
        let l = ledger.lock().unwrap();
        (l.acknowledged.len(), l.refusals)
    };
    std::thread::sleep(Duration::from_secs(3));
    {
        let l = ledger.lock().unwrap();
        assert_eq!(
            l.acknowledged.len(),
            acked_at_down,
            "a batch was acknowledged while PostgreSQL was down"
        );
        assert!(
            l.refusals > refusals_at_down,
            "no 503 while PostgreSQL was down"
        );
    }
    let (status, body) = server.get("/readyz");
    assert_eq!(status, 503, "{body}");
    pg.up();
    // Recovery, without restarting Steward.
    let back = Instant::now();
    while ledger.lock().unwrap().acknowledged.len() == acked_at_down {
        assert!(
            back.elapsed() < Duration::from_secs(30),
            "ingest did not recover within 30 s of PostgreSQL's return"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    settle(
        &server.base,
        &server.admin,
        &ledger,
        Duration::from_secs(60),
    );
    server.wait_until_ready(Duration::from_secs(30));
    assert_counted_once(&server, &ledger);
    // And a restart of Steward agrees with what it counted.
    let expected = ledger
        .lock()
        .unwrap()
        .acknowledged
        .iter()
        .map(|&n| batch_total(n))
        .sum::<u64>();
    server.kill9();
    let server = Server::start_with(&config, &pg.url(), UNLIMITED);
    let (_, slo) = server.get("/api/v1/slos/api-availability");
    assert_eq!(slo["sli"]["total"], json!(expected));
}

fn sigkill_cycles(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = one_slo_config(dir.path());
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut server = Server::start_with(&config, db, UNLIMITED);
    for cycle in 0..20u64 {
        let stop = Arc::new(AtomicBool::new(false));
        let clients = ingest_until(&server.base, &server.admin, &ledger, &stop, 4);
        // 0.3 to 1.2 s of sustained ingest, then SIGKILL while requests are in flight.
        std::thread::sleep(Duration::from_millis(300 + (cycle * 337) % 900));
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
        server = Server::start_with(&config, db, UNLIMITED);
    }
    // Batches in flight at a kill may or may not be stored: their retries, with the same key,
    // count them once either way.
    settle(
        &server.base,
        &server.admin,
        &ledger,
        Duration::from_secs(60),
    );
    assert!(
        ledger.lock().unwrap().acknowledged.len() > 100,
        "too little was ingested to prove anything"
    );
    assert_counted_once(&server, &ledger);
}

#[test]
fn sqlite_counts_every_acknowledged_batch_once_across_20_sigkills() {
    let dir = tempfile::tempdir().unwrap();
    sigkill_cycles(&sqlite_url(dir.path()));
}

#[test]
fn postgres_counts_every_acknowledged_batch_once_across_20_sigkills() {
    let (url, _schema) = postgres_url();
    sigkill_cycles(&url);
}

//! The running configuration, and reloading it without a restart (SIGHUP and
//! `POST /api/v1/config/reload`, as Prometheus and Alertmanager do).
//!
//! A reload loads the directory again and checks it whole: a configuration with errors, or
//! one in which a tier-1 service's pages reach no one, is refused with every error, and the
//! running one stays. Otherwise the running engine's workers stop, it takes no more samples
//! (its commits in flight finish first), and an engine for the new catalog is built on the
//! same store and rebuilt from it, so it counts exactly what was stored. Its alert pipeline
//! is the old one's successor: alerts, escalations and incidents live in the store and carry
//! on; the outbox and runbook runs in flight go on untouched; an SLO that is gone resolves its
//! alerts, and a changed escalation policy applies from the next step. Samples sent during
//! the swap get 503 `rebuilding` with Retry-After, as after a start.

use crate::{Engine, EngineError};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

/// Which configuration runs, and how the last reload went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigStatus {
    /// The running configuration's hash ([`steward_config::Loaded::hash`]).
    pub hash: String,
    /// When the running configuration was loaded (unix seconds).
    pub loaded_at: i64,
    /// Whether the last reload (or the start) succeeded.
    pub last_reload_successful: bool,
    /// When the last reload was tried.
    pub last_reload_at: i64,
    /// Why the last reload was refused.
    pub errors: Vec<String>,
}

/// Why a reload was refused; the running configuration stays.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the configuration has {} error(s); the running one stays", .0.len())]
    Invalid(Vec<String>),
    #[error("this Steward has no configuration directory to reload (the demo runs a fixed one)")]
    NoDirectory,
    #[error("Steward is still starting (reading the store); reload once /readyz says ready")]
    Starting,
    #[error("the new configuration could not take over, so the running one stays: {0}")]
    Engine(#[from] EngineError),
}

/// The workers of one engine: those that read its SLO state (the evaluator, the roll-up)
/// and the alert worker, stopped apart — the alert worker goes on escalating while a
/// reloaded engine rebuilds.
struct Workers {
    slo: Vec<JoinHandle<()>>,
    slo_stop: Arc<AtomicBool>,
    alerts: Vec<JoinHandle<()>>,
    alerts_stop: Arc<AtomicBool>,
}

impl Workers {
    fn stop_slo(&mut self) {
        stop(&self.slo_stop, &mut self.slo);
    }

    fn stop_alerts(&mut self) {
        stop(&self.alerts_stop, &mut self.alerts);
    }
}

fn stop(flag: &AtomicBool, handles: &mut Vec<JoinHandle<()>>) {
    flag.store(true, Ordering::Relaxed);
    for h in handles.drain(..) {
        let _ = h.join();
    }
}

/// The engine that serves now, and how to replace it.
pub struct Runtime {
    current: RwLock<Arc<Engine>>,
    /// The configuration directory, read again on reload.
    directory: Option<PathBuf>,
    /// Whether email can be delivered (SMTP is set up): for the reachability check.
    smtp: bool,
    status: Mutex<ConfigStatus>,
    /// The running engine's workers, `None` until [`Runtime::start`]; held through a
    /// reload (the configuration is read under it too), so one runs at a time and the last
    /// to take it installs the newest files.
    workers: Mutex<Option<Workers>>,
    /// Stops everything: the outbox, and the workers of whichever engine runs.
    stop: Arc<AtomicBool>,
    /// The outbox's delivery loop, shared by every engine.
    outbox: Mutex<Option<JoinHandle<()>>>,
}

impl Runtime {
    /// A runtime for `engine`, loaded from `directory` (if reloadable) with `hash`.
    pub fn new(
        engine: Arc<Engine>,
        directory: Option<PathBuf>,
        hash: String,
        smtp: bool,
        now: i64,
    ) -> Runtime {
        Runtime {
            current: RwLock::new(engine),
            directory,
            smtp,
            status: Mutex::new(ConfigStatus {
                hash,
                loaded_at: now,
                last_reload_successful: true,
                last_reload_at: now,
                errors: Vec::new(),
            }),
            workers: Mutex::default(),
            stop: Arc::default(),
            outbox: Mutex::default(),
        }
    }

    /// A runtime around an engine whose workers someone else runs, with no configuration to
    /// reload (tests, benchmarks).
    pub fn fixed(engine: Arc<Engine>) -> Runtime {
        Runtime::new(engine, None, String::new(), false, 0)
    }

    /// The engine that serves now. Hold it for one request, not longer: a reload replaces it.
    pub fn engine(&self) -> Arc<Engine> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn config_status(&self) -> ConfigStatus {
        crate::lock(&self.status).clone()
    }

    /// Starts the running engine's workers (once it is rebuilt) and the outbox; once.
    pub fn start(&self) {
        let mut workers = crate::lock(&self.workers);
        if workers.is_some() {
            return;
        }
        let engine = self.engine();
        *crate::lock(&self.outbox) = Some(engine.alerting.outbox.spawn(self.stop.clone()));
        let mut w = Workers {
            slo: Vec::new(),
            slo_stop: Arc::default(),
            alerts: Vec::new(),
            alerts_stop: Arc::default(),
        };
        self.start_slo(&engine, &mut w);
        self.start_alerts(&engine, &mut w);
        *workers = Some(w);
    }

    fn start_slo(&self, engine: &Arc<Engine>, w: &mut Workers) {
        w.slo_stop = watched(&self.stop);
        w.slo = vec![
            engine.spawn_evaluator(w.slo_stop.clone()),
            engine.spawn_rollup(w.slo_stop.clone()),
        ];
    }

    fn start_alerts(&self, engine: &Arc<Engine>, w: &mut Workers) {
        w.alerts_stop = watched(&self.stop);
        w.alerts = vec![engine.alerting.spawn_worker(w.alerts_stop.clone())];
    }

    /// Stops every worker and the outbox, and waits for them.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(mut w) = crate::lock(&self.workers).take() {
            w.stop_slo();
            w.stop_alerts();
        }
        if let Some(h) = crate::lock(&self.outbox).take() {
            let _ = h.join();
        }
    }

    /// Loads the configuration directory again and, if it is whole, puts it in place of the
    /// running one (see the module's documentation). Blocks for as long as the rebuild takes.
    pub fn reload(&self) -> Result<ConfigStatus, ReloadError> {
        let mut workers = crate::lock(&self.workers);
        // Still starting: the first rebuild has not finished. The configuration it runs is
        // not in question, so the status stays as it is.
        let Some(w) = workers.as_mut() else {
            return Err(ReloadError::Starting);
        };
        // The time once it is this reload's turn (another may have held the lock).
        let now = jiff::Timestamp::now().as_second();
        let result = self.try_reload(w, now);
        let mut status = crate::lock(&self.status);
        status.last_reload_at = now;
        // The trail says which configuration runs from when (and which was refused).
        let (action, after) = match &result {
            Ok(hash) => ("config.load", serde_json::json!({ "hash": hash })),
            Err(e) => (
                "config.refused",
                serde_json::json!({ "error": e.to_string() }),
            ),
        };
        let details =
            serde_json::json!({ "before": { "hash": status.hash }, "after": after }).to_string();
        if let Err(e) = self
            .engine()
            .store()
            .transact(move |tx| tx.audit(now, "system:reload", action, "config", &details))
        {
            tracing::error!(error = %e, "the reload could not be written to the audit trail");
        }
        match &result {
            Ok(hash) => {
                status.hash = hash.clone();
                status.loaded_at = now;
                status.last_reload_successful = true;
                status.errors.clear();
                tracing::info!(hash = %hash, "configuration reloaded");
            }
            Err(e) => {
                status.last_reload_successful = false;
                status.errors = match e {
                    ReloadError::Invalid(errors) => errors.clone(),
                    other => vec![other.to_string()],
                };
                for err in &status.errors {
                    tracing::error!("reload refused: {err}");
                }
            }
        }
        let status = status.clone();
        drop(workers);
        result.map(|_| status)
    }

    fn try_reload(&self, workers: &mut Workers, now: i64) -> Result<String, ReloadError> {
        let Some(directory) = &self.directory else {
            return Err(ReloadError::NoDirectory);
        };
        let loaded = steward_config::load(directory)
            .map_err(|d| ReloadError::Invalid(d.iter().map(ToString::to_string).collect()))?;
        let reach = steward_config::catalog::reachability(&loaded.catalog, self.smtp);
        if !reach.errors.is_empty() {
            return Err(ReloadError::Invalid(reach.errors));
        }
        for w in loaded
            .warnings
            .iter()
            .map(ToString::to_string)
            .chain(reach.warnings)
        {
            tracing::warn!("{w}");
        }
        let old = self.engine();
        // The old engine stops counting; its alert worker goes on escalating meanwhile.
        workers.stop_slo();
        let gate = old.retire();
        let taken_over = old.successor(loaded.catalog, now).and_then(|new| {
            new.rebuild(now)?;
            Ok(Arc::new(new))
        });
        match taken_over {
            Ok(new) => {
                workers.stop_alerts();
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = new.clone();
                self.start_slo(&new, workers);
                self.start_alerts(&new, workers);
                drop(gate);
                Ok(loaded.hash)
            }
            Err(e) => {
                drop(gate);
                old.revive();
                self.start_slo(&old, workers);
                Err(e.into())
            }
        }
    }
}

/// A stop flag of its own, also set when everything stops.
fn watched(stop_all: &Arc<AtomicBool>) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(stop_all.load(Ordering::Relaxed)));
    let (mine, all) = (stop.clone(), stop_all.clone());
    let _ = std::thread::Builder::new()
        .name("workers-stop".into())
        .spawn(move || {
            while !mine.load(Ordering::Relaxed) {
                if all.load(Ordering::Relaxed) {
                    mine.store(true, Ordering::Relaxed);
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
    stop
}

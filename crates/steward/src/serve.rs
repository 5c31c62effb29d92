//! `steward serve`: load the configuration, open the store, rebuild the engine, serve.

use anyhow::Context;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use steward_engine::runtime::Runtime;
use steward_engine::Engine;
use steward_http::access::AccessMode;
use steward_store::Store;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// The configuration directory (YAML documents).
    #[arg(long, default_value = "./steward.d")]
    pub config: PathBuf,
    /// The store: sqlite://PATH (default) or postgres://USER@HOST:PORT/DB.
    #[arg(long, default_value = "sqlite://./steward-data/steward.db")]
    pub db: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8580")]
    pub listen: String,
    /// Let anyone read /metrics, for a scraper that cannot send a token. Every other route
    /// but health, readiness, the login pages and the inbound integrations (which check
    /// their own keys) needs a token or a console session.
    #[arg(long)]
    pub metrics_public: bool,
    /// Requests a second each token or session may make on average (bursts of ten times
    /// that); past it, 429 with Retry-After. 0: no limit.
    #[arg(long, default_value_t = steward_http::access::DEFAULT_RATE_LIMIT)]
    pub rate_limit: u32,
    /// Serve HTTPS with this certificate chain (PEM); with --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    #[command(flatten)]
    pub alerts: AlertArgs,
}

/// How alerts are escalated and notifications delivered.
#[derive(clap::Args, Clone, Debug)]
pub struct AlertArgs {
    /// The address people reach Steward at, for links in notifications (default: the
    /// address it listens on).
    #[arg(long)]
    pub public_url: Option<String>,
    /// The first notification of a group (one policy, urgency and kind of alert, to one
    /// destination) leaves at once; those that follow within this long are gathered into one.
    #[arg(long, default_value = "30s", value_parser = secs)]
    pub group_wait: i64,
    /// How long after a group's notification the next one to the same destination waits.
    #[arg(long, default_value = "5m", value_parser = secs)]
    pub group_interval: i64,
    /// The labels whose values make a notification group, with the policy and the urgency
    /// (as Alertmanager's group_by): an alert with none of them is a group of its own.
    #[arg(long, default_value = "alertname,slo", value_delimiter = ',')]
    pub group_by: Vec<String>,
    /// How often an unacknowledged alert whose escalation has run out notifies its last
    /// step again (0s: never).
    #[arg(long, default_value = "4h", value_parser = secs)]
    pub repeat_interval: i64,
    /// How long an open page of a service a service depends on holds the dependent's pages
    /// back, from when each opened; then they page too, naming the page they waited on.
    #[arg(long, default_value = "30m", value_parser = secs)]
    pub dependency_hold: i64,
    /// One delivery attempt may take this long.
    #[arg(long, default_value = "10s", value_parser = secs)]
    pub notify_timeout: i64,
    /// The first retry of a failed delivery waits about this long; each next one twice as long.
    #[arg(long, default_value = "5s", value_parser = secs)]
    pub notify_retry_base: i64,
    /// A notification not delivered after this long becomes a dead letter.
    #[arg(long, default_value = "1h", value_parser = secs)]
    pub notify_give_up: i64,
    /// Notifications a minute to one destination at most.
    #[arg(long, default_value_t = 60)]
    pub notify_per_minute: u32,
    /// The SMTP relay email notifications go through: smtp://HOST:PORT (plain),
    /// smtp://HOST?tls=required (STARTTLS) or smtps://USER:PASSWORD@HOST (TLS).
    #[arg(long, requires = "smtp_from", env = "STEWARD_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// The sender of email notifications, e.g. "Steward <steward@example.com>".
    #[arg(long, requires = "smtp_url", env = "STEWARD_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// A file holding the key that signs webhook bodies (X-Steward-Signature, HMAC-SHA256);
    /// or set STEWARD_SIGNING_KEY.
    #[arg(long)]
    pub signing_key_file: Option<PathBuf>,
}

fn secs(text: &str) -> Result<i64, String> {
    if text == "0" || text == "0s" {
        return Ok(0);
    }
    steward_model::Duration::parse(text).map(|d| d.secs())
}

impl AlertArgs {
    pub fn options(&self) -> anyhow::Result<steward_engine::alerting::AlertOptions> {
        use steward_engine::alerting::{AlertOptions, DeliveryOptions};
        let signing_key = match (&self.signing_key_file, std::env::var("STEWARD_SIGNING_KEY")) {
            (Some(path), _) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading the signing key {}", path.display()))?
                    .trim()
                    .as_bytes()
                    .to_vec(),
            ),
            (None, Ok(key)) if !key.is_empty() => Some(key.into_bytes()),
            _ => None,
        };
        if signing_key.is_none() {
            tracing::warn!("webhook notifications are not signed: set STEWARD_SIGNING_KEY or --signing-key-file");
        }
        let smtp = match (&self.smtp_url, &self.smtp_from) {
            (Some(url), Some(from)) => {
                let o = steward_engine::alerting::SmtpOptions {
                    url: url.clone(),
                    from: from.clone(),
                };
                steward_engine::alerting::check_smtp(&o).map_err(anyhow::Error::msg)?;
                Some(o)
            }
            _ => None,
        };
        Ok(AlertOptions {
            public_url: self.public_url.clone().unwrap_or_default(),
            group_wait: self.group_wait,
            group_interval: self.group_interval,
            group_by: self.group_by.clone(),
            repeat_interval: self.repeat_interval,
            dependency_hold: self.dependency_hold,
            delivery: DeliveryOptions {
                timeout: std::time::Duration::from_secs(self.notify_timeout.max(1) as u64),
                retry_base: std::time::Duration::from_secs(self.notify_retry_base.max(1) as u64),
                give_up_after: self.notify_give_up,
                per_destination_per_minute: self.notify_per_minute.max(1),
                signing_key,
                smtp,
                ..DeliveryOptions::default()
            },
        })
    }
}

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .try_init();
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let loaded = steward_config::load(&args.config).map_err(|diags| {
        for d in &diags {
            eprintln!("{d}");
        }
        anyhow::anyhow!(
            "the configuration in {} has {} error(s); fix them (steward validate {} lists them) and start again",
            args.config.display(),
            diags.len(),
            args.config.display()
        )
    })?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let reach =
        steward_config::catalog::reachability(&loaded.catalog, args.alerts.smtp_url.is_some());
    for w in &reach.warnings {
        tracing::warn!("{w}");
    }
    for e in &reach.errors {
        tracing::error!("{e}; steward validate fails on this configuration");
    }
    let store = Store::open(&args.db).context("opening the store")?;
    first_admin_hint(&store, &loaded.catalog, &args);
    let options = args.alerts.options()?;
    start(
        Config {
            catalog: loaded.catalog,
            hash: loaded.hash,
            directory: Some(args.config.clone()),
            access: steward_http::access::Access {
                mode: AccessMode::Required,
                metrics_public: args.metrics_public,
                rate_limit: args.rate_limit,
            },
            tls: match (&args.tls_cert, &args.tls_key) {
                (Some(cert), Some(key)) => {
                    Some(steward_http::tls::config(cert, key).map_err(anyhow::Error::msg)?)
                }
                _ => None,
            },
        },
        store,
        &args.listen,
        options,
        |_| Ok(()),
        |_| {},
    )
}

/// With no API token in the store yet (a new store, or one from before tokens), says how
/// the first admin gets in.
fn first_admin_hint(store: &Store, catalog: &steward_config::Catalog, args: &ServeArgs) {
    let Ok(tokens) = store.transact(|tx| tx.tokens(None)) else {
        return;
    };
    if !tokens.is_empty() {
        return;
    }
    let admins: Vec<&str> = catalog
        .users
        .iter()
        .filter(|u| u.role == steward_model::catalog::Role::Admin && u.customer.is_none())
        .map(|u| u.name.as_str())
        .collect();
    let user = admins.first().copied().unwrap_or("NAME");
    println!(
        "no API tokens yet; make the first admin's with:\n  steward token create --user {user} --config {} --db {}{}",
        args.config.display(),
        steward_store::redact_url(&args.db),
        if admins.is_empty() {
            "\n(no User has role: admin yet; give one `role: admin` in the configuration)".to_string()
        } else {
            String::new()
        }
    );
}

/// The configuration to serve, and where to read it again on reload (`None`: never).
pub struct Config {
    pub catalog: steward_config::Catalog,
    pub hash: String,
    pub directory: Option<PathBuf>,
    /// Who is let in.
    pub access: steward_http::access::Access,
    /// Serve HTTPS with this identity.
    pub tls: Option<Arc<steward_http::tls::ServerConfig>>,
}

/// Serves until SIGINT or SIGTERM; SIGHUP reloads the configuration. The listener binds at
/// once; the engine rebuilds from the store meanwhile (`/readyz` answers `rebuilding`), then
/// the evaluator, the roll-up and the alert workers start. `before` runs on the engine before
/// the rebuild (the demo imports its history there); `ready` runs once it is rebuilt (the
/// demo starts its traffic there).
pub fn start(
    config: Config,
    store: Store,
    listen: &str,
    options: steward_engine::alerting::AlertOptions,
    before: impl FnOnce(&Engine) -> anyhow::Result<()>,
    ready: impl FnOnce(Arc<Engine>) + Send + 'static,
) -> anyhow::Result<()> {
    let now = jiff::Timestamp::now().as_second();
    let smtp = options.delivery.smtp.is_some();
    let engine = Arc::new(
        Engine::with_options(config.catalog, store, now, options)
            .context("preparing the SLO engine on the store")?,
    );
    before(&engine)?;
    let details =
        serde_json::json!({ "before": null, "after": { "hash": config.hash } }).to_string();
    if let Err(e) = engine
        .store()
        .transact(move |tx| tx.audit(now, "system:start", "config.load", "config", &details))
    {
        // A store that is down at start is waited for by the rebuild; the entry is lost.
        tracing::error!(error = %e, "the configuration's load could not be written to the audit trail");
    }
    let runtime = Arc::new(Runtime::new(
        engine.clone(),
        config.directory,
        config.hash,
        smtp,
        now,
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = tokio.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "listening");
        let scheme = if config.tls.is_some() { "https" } else { "http" };
        println!("steward is serving on {scheme}://{addr}/");
        if engine.alerting.options.public_url.is_empty() {
            engine.alerting.set_public_url(format!("{scheme}://{addr}"));
        }
        if !addr.ip().is_loopback() && !engine.alerting.public_url().starts_with("https://") {
            tracing::warn!(
                %addr,
                "serving beyond loopback without https: tokens, sessions and passwords cross the network in the clear; put a TLS proxy in front and pass its https address as --public-url"
            );
        }
        let workers = {
            let (runtime, stop) = (runtime.clone(), stop.clone());
            std::thread::Builder::new()
                .name("rebuild".into())
                .spawn(move || rebuild_then_work(&runtime, &stop, ready))
                .context("starting the rebuild")?
        };
        tokio::spawn(reload_on_sighup(runtime.clone()));
        match config.tls {
            Some(tls) => {
                let listener = steward_http::tls::TlsListener::new(listener, tls)?;
                steward_http::serve_tls(runtime.clone(), config.access, listener, shutdown_signal())
                    .await?
            }
            None => {
                steward_http::serve(runtime.clone(), config.access, listener, shutdown_signal())
                    .await?
            }
        }
        stop.store(true, Ordering::Relaxed);
        let _ = workers.join();
        anyhow::Ok(())
    });
    stop.store(true, Ordering::Relaxed);
    runtime.shutdown();
    result
}

/// Rebuilds (again after a pause, as long as the store fails), then starts the workers,
/// unless `stop` is set first.
fn rebuild_then_work(runtime: &Runtime, stop: &AtomicBool, ready: impl FnOnce(Arc<Engine>)) {
    let engine = runtime.engine();
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        match engine.rebuild(jiff::Timestamp::now().as_second()) {
            Ok(()) => break,
            Err(e) => {
                tracing::error!(error = %e, "cannot rebuild the SLO engine from the store; trying again in 2 s");
                std::thread::sleep(std::time::Duration::from_secs(2));
            }
        }
    }
    tracing::info!(
        slos = engine.catalog().slos.len(),
        store = engine.store().kind(),
        "engine ready"
    );
    runtime.start();
    ready(engine);
}

/// Reloads the configuration on every SIGHUP, as Prometheus and Alertmanager do.
async fn reload_on_sighup(runtime: Arc<Runtime>) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP; reload with POST /api/v1/config/reload");
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the configuration");
            let runtime = runtime.clone();
            // Refusals are logged and kept for /readyz and /metrics.
            let _ = tokio::task::spawn_blocking(move || runtime.reload()).await;
        }
    }
    #[cfg(not(unix))]
    let _ = runtime;
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

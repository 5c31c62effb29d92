//! `steward serve`: load the configuration, open the store, rebuild the engine, serve.

use anyhow::Context;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use steward_engine::Engine;
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
}

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
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
    let store = Store::open(&args.db).context("opening the store")?;
    start(loaded.catalog, store, &args.listen, |_| {})
}

/// Rebuilds the engine and serves until SIGINT or SIGTERM. `ready` runs once the server
/// listens, with the engine (the demo starts its traffic there).
pub fn start(
    catalog: steward_config::Catalog,
    store: Store,
    listen: &str,
    ready: impl FnOnce(Arc<Engine>),
) -> anyhow::Result<()> {
    let now = jiff::Timestamp::now().as_second();
    let started = std::time::Instant::now();
    let engine = Arc::new(
        Engine::start(catalog, store, now).context("rebuilding the SLO engine from the store")?,
    );
    tracing::info!(
        slos = engine.catalog().slos.len(),
        store = engine.store().kind(),
        rebuild_ms = started.elapsed().as_millis() as u64,
        "engine rebuilt from the store"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let evaluator = engine.spawn_evaluator(stop.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "listening");
        println!("steward is serving on http://{addr}/");
        ready(engine.clone());
        steward_http::serve(engine, listener, shutdown_signal()).await?;
        anyhow::Ok(())
    });
    stop.store(true, Ordering::Relaxed);
    let _ = evaluator.join();
    result
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

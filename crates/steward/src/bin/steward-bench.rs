//! Prints Steward's performance figures on this machine:
//!
//! ```text
//! cargo run --release -p steward --bin steward-bench
//! ```
//!
//! 1. in-process ingest: samples counted per second on one core;
//! 2. evaluation: every window of 100,000 SLOs, one full evaluator tick;
//! 3. memory per SLO with a 30-day window (a counting allocator, not an estimate);
//! 4. durable HTTP ingest: batches of 1,000 samples over loopback into SQLite, acknowledged
//!    only once stored.

// The counting allocator below is the only unsafe code in Steward: it measures memory.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use steward_config::Catalog;
use steward_engine::Engine;
use steward_model::{
    BudgetingMethod, Counts, Indicator, Objective, SloDefinition, SloState, SloWindow,
};
use steward_store::Store;

struct Counting;

static ALLOCATED: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn def(i: usize) -> SloDefinition {
    SloDefinition {
        name: format!("slo-{i:06}"),
        display_name: None,
        description: None,
        service: format!("service-{}", i % 1000),
        objective: Objective::new(0.999).unwrap(),
        window: SloWindow::Rolling(steward_model::Duration::days(30)),
        method: BudgetingMethod::Occurrences,
        indicator: Indicator::Ratio,
    }
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn ingest_in_process() {
    let d = def(0);
    let start = now();
    // Hot: one SLO's samples arriving in time order, as a sender's batch does.
    let mut st = SloState::new(&d, start - 86_400, start);
    let n = 50_000_000u64;
    let t0 = Instant::now();
    for i in 0..n {
        st.add(start + (i / 2_000) as i64, Counts::new(999, 1000));
    }
    let hot = n as f64 / t0.elapsed().as_secs_f64();
    std::hint::black_box(&st);
    // Cold: round-robin over 10,000 SLOs (370 MB of buffers), every sample a cache miss.
    let defs: Vec<SloDefinition> = (0..10_000).map(def).collect();
    let mut states: Vec<SloState> = defs
        .iter()
        .map(|d| SloState::new(d, start - 86_400, start))
        .collect();
    let n = 20_000_000u64;
    let t0 = Instant::now();
    for i in 0..n {
        let k = (i % 10_000) as usize;
        states[k].add(start + (i / 100_000) as i64, Counts::new(999, 1000));
    }
    let cold = n as f64 / t0.elapsed().as_secs_f64();
    std::hint::black_box(&states);
    println!("in-process ingest, one core: {:.1}M samples/s (one SLO, in time order); {:.1}M samples/s (round-robin over 10,000 SLOs)", hot / 1e6, cold / 1e6);
}

fn memory_per_slo() {
    let d = def(0);
    let t = now();
    let before = ALLOCATED.load(Ordering::Relaxed);
    let states: Vec<SloState> = (0..1000).map(|_| SloState::new(&d, t, t)).collect();
    let after = ALLOCATED.load(Ordering::Relaxed);
    let per = (after - before) as f64 / 1000.0;
    println!(
        "memory per SLO with a 30-day window: {:.1} KiB (buffers {:.1} KiB)",
        per / 1024.0,
        states[0].heap_bytes() as f64 / 1024.0
    );
}

fn evaluation(dir: &std::path::Path) {
    let n = 100_000;
    let catalog = Catalog {
        slos: (0..n).map(def).collect(),
        ..Catalog::default()
    };
    let store = Store::open(&format!("sqlite://{}", dir.join("eval.db").display())).unwrap();
    let t = now();
    let engine = Engine::start(catalog, store, t).unwrap();
    // Traffic on every SLO over the last day, so no window is trivially empty.
    let samples: Vec<_> = (0..n)
        .map(|i| steward_engine::IncomingSample {
            slo: format!("slo-{i:06}"),
            time: Some(t - (i as i64 % 86_400)),
            measurement: steward_model::slo::Measurement::Events {
                good: 990,
                total: 1000,
            },
        })
        .collect();
    engine.ingest(&samples, t).unwrap();
    let mut times = Vec::new();
    for k in 1..=10 {
        let t0 = Instant::now();
        engine.evaluate(t + k);
        times.push(t0.elapsed());
    }
    times.sort();
    println!(
        "evaluation of all windows of {n} SLOs: median {:.1} ms, best {:.1} ms, worst {:.1} ms (10 ticks)",
        times[5].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[9].as_secs_f64() * 1e3
    );
}

fn http_ingest(dir: &std::path::Path) {
    let slos = 1000;
    let catalog = Catalog {
        slos: (0..slos).map(def).collect(),
        ..Catalog::default()
    };
    let store = Store::open(&format!("sqlite://{}", dir.join("http.db").display())).unwrap();
    let engine = Arc::new(Engine::start(catalog, store, now()).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(steward_http::serve(
        engine.clone(),
        listener,
        std::future::pending(),
    ));
    // Each batch: 1,000 samples over 1,000 SLOs, stamped now by the server.
    let body = {
        let items: Vec<String> = (0..1000)
            .map(|i| {
                format!(
                    "{{\"slo\":\"slo-{:06}\",\"good\":{},\"total\":100}}",
                    i % slos,
                    99 + (i % 2)
                )
            })
            .collect();
        format!("{{\"samples\":[{}]}}", items.join(","))
    };
    let url = format!("http://{addr}/api/v1/samples");
    let clients = 8;
    let run_for = Duration::from_secs(5);
    let t0 = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (url, body) = (url.clone(), body.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
                let mut batches = 0u64;
                while t0.elapsed() < run_for {
                    let resp = agent
                        .post(&url)
                        .header("content-type", "application/json")
                        .send(&body)
                        .unwrap();
                    assert_eq!(resp.status().as_u16(), 202);
                    batches += 1;
                }
                batches
            })
        })
        .collect();
    let batches: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "durable HTTP ingest (SQLite, synchronous=FULL, {clients} clients, batches of 1,000): {:.2}M samples/s ({:.0} batches/s)",
        batches as f64 * 1000.0 / secs / 1e6,
        batches as f64 / secs
    );
    assert_eq!(engine.metrics.samples_accepted.get(), batches * 1000);
    drop(rt);
}

fn main() {
    let dir = tempfile_dir();
    println!(
        "steward-bench on {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    ingest_in_process();
    memory_per_slo();
    evaluation(&dir);
    http_ingest(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("steward-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

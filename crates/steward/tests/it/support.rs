//! A `steward serve` process per test, and a small HTTP client.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn steward() -> Command {
    Command::new(env!("CARGO_BIN_EXE_steward"))
}

pub fn example_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/shop")
}

pub fn fixtures() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/fixtures");
    assert!(
        dir.is_dir(),
        "the fixtures are missing at {}",
        dir.display()
    );
    dir
}

pub struct Server {
    pub child: Child,
    pub base: String,
    /// The configuration and store it serves, for `steward token create`.
    pub config: PathBuf,
    pub db: String,
    /// An admin's API token: what [`Server::get`], [`Server::post`] and the like send.
    pub admin: String,
    /// Tokens made for users, by name.
    tokens: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// The user the tests act as when they do not say: the example's admin, or an admin this
/// adds to a test's own configuration directory.
pub fn test_admin(config: &Path) -> &'static str {
    if config.canonicalize().ok() == example_config().canonicalize().ok() {
        return "ana";
    }
    let file = config.join("zz-test-admin.yaml");
    if config.is_dir() && !file.exists() {
        std::fs::write(
            &file,
            "apiVersion: steward/v1\nkind: User\nmetadata: {name: test-admin}\nspec: {role: admin}\n",
        )
        .unwrap();
    }
    "test-admin"
}

/// `steward token create --user USER` on the store: the token.
pub fn make_token(config: &Path, db: &str, user: &str) -> String {
    let out = steward()
        .args([
            "token", "create", "--user", user, "--name", "test", "--db", db, "--config",
        ])
        .arg(config)
        .env_remove("STEWARD_TOKEN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "no token for {user}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

impl Server {
    /// Starts `steward serve` on a free port and waits until it listens.
    pub fn start(config: &Path, db: &str) -> Server {
        Server::start_with(config, db, &[])
    }

    /// [`Server::start`] with more `serve` arguments.
    pub fn start_with(config: &Path, db: &str, args: &[&str]) -> Server {
        Server::start_logging(config, db, args, None)
    }

    /// [`Server::start_with`], its log (at info) written to `log` when given.
    pub fn start_logging(config: &Path, db: &str, args: &[&str], log: Option<&Path>) -> Server {
        let admin = make_token(config, db, test_admin(config));
        // The log goes to stdout (and errors before it starts to stderr): both to the file.
        let (level, stderr, mut copy) = match log {
            Some(path) => {
                let file = std::fs::File::create(path).unwrap();
                let copy = file.try_clone().unwrap();
                ("info", Stdio::from(file), Some(copy))
            }
            None => ("warn", Stdio::inherit(), None),
        };
        let mut child = steward()
            .args(["serve", "--listen", "127.0.0.1:0", "--db", db, "--config"])
            .arg(config)
            .args(args)
            .env("RUST_LOG", level)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("starting steward");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(f) = copy.as_mut() {
                    use std::io::Write;
                    let _ = writeln!(f, "{line}");
                }
                if let Some(addr) = line.strip_prefix("steward is serving on ") {
                    let _ = tx.send(addr.trim_end_matches('/').to_string());
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("steward did not start listening within 30 s");
        let server = Server {
            child,
            base,
            config: config.to_path_buf(),
            db: db.to_string(),
            admin,
            tokens: Default::default(),
        };
        server.wait_until_ready(Duration::from_secs(60));
        server
    }

    /// `steward` with the admin's token in `STEWARD_TOKEN`, for the commands that talk to
    /// this server.
    pub fn cli(&self) -> Command {
        let mut c = steward();
        c.env("STEWARD_TOKEN", &self.admin);
        c
    }

    /// A token of `user` (made once per server).
    pub fn token_of(&self, user: &str) -> String {
        self.tokens
            .lock()
            .unwrap()
            .entry(user.to_string())
            .or_insert_with(|| make_token(&self.config, &self.db, user))
            .clone()
    }

    /// A request with the admin's token; the answer as JSON.
    pub fn send(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        request_with(
            method,
            &format!("{}{path}", self.base),
            body,
            Some(&self.admin),
        )
    }

    /// Polls `/readyz` until it answers 200: the engine has read its store.
    pub fn wait_until_ready(&self, limit: Duration) {
        let start = Instant::now();
        loop {
            let (status, body) = self.get("/readyz");
            if status == 200 {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "steward was not ready within {limit:?}: {status} {body}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, None)
    }

    pub fn get_text(&self, path: &str) -> (u16, String) {
        let agent = agent();
        let mut resp = agent
            .get(&format!("{}{path}", self.base))
            .header("authorization", &format!("Bearer {}", self.admin))
            .call()
            .unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap(),
        )
    }

    pub fn post(&self, path: &str, body: &str) -> (u16, Value) {
        self.send("POST", path, Some(body))
    }

    pub fn post_patch(&self, path: &str, body: &str) -> (u16, Value) {
        self.send("PATCH", path, Some(body))
    }

    /// A POST whose answer need not be JSON, with the admin's token.
    pub fn post_text(&self, path: &str, body: &str) -> (u16, String) {
        post_text_with(&format!("{}{path}", self.base), body, Some(&self.admin))
    }

    /// A POST with `Authorization: Bearer KEY`; the body as text.
    pub fn post_key(&self, path: &str, key: &str, body: &str) -> (u16, String) {
        let mut resp = agent()
            .post(&format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .header("authorization", &format!("Bearer {key}"))
            .send(body)
            .unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap(),
        )
    }

    /// The alerts `GET /api/v1/alerts?QUERY` lists.
    pub fn alerts(&self, query: &str) -> Vec<Value> {
        let (status, body) = self.get(&format!("/api/v1/alerts?{query}"));
        assert_eq!(status, 200, "{body}");
        body["alerts"].as_array().unwrap().clone()
    }

    /// The id of the alert with `key` once it is open, waiting up to 15 s for it.
    pub fn wait_for_alert(&self, key: &str) -> i64 {
        let start = Instant::now();
        loop {
            if let Some(a) = self
                .alerts("status=unresolved")
                .iter()
                .find(|a| a["dedup_key"] == serde_json::json!(key))
            {
                return a["id"].as_i64().unwrap();
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "no alert {key} opened"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the process without warning (SIGKILL).
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Polls `GET path` until `done` holds, for at most `limit`.
    pub fn wait_for(&self, path: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let (status, body) = self.get(path);
            if status == 200 && done(&body) {
                return body;
            }
            assert!(
                start.elapsed() < limit,
                "timed out waiting on {path}: last answer {status} {body}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

pub fn request(method: &str, url: &str, body: Option<&str>) -> (u16, Value) {
    request_with(method, url, body, None)
}

/// [`request`] with `Authorization: Bearer TOKEN`.
pub fn request_with(
    method: &str,
    url: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> (u16, Value) {
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut resp = agent()
        .run(req.body(body.unwrap_or_default().to_string()).unwrap())
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, value)
}

/// An OpenSLO ratio SLO of `service` (a document with its leading `---`), counting pushed
/// good and total events, 99.9 % over a rolling `window`.
pub fn ratio_slo(name: &str, service: &str, window: &str) -> String {
    format!(
        r#"
---
apiVersion: openslo/v1
kind: SLO
metadata: {{name: {name}}}
spec:
  service: {service}
  indicator:
    metadata: {{name: {name}-requests}}
    spec:
      ratioMetric:
        counter: true
        good: {{metricSource: {{type: steward, spec: {{}}}}}}
        total: {{metricSource: {{type: steward, spec: {{}}}}}}
  timeWindow: [{{duration: {window}, isRolling: true}}]
  budgetingMethod: Occurrences
  objectives: [{{target: 0.999}}]
"#
    )
}

/// A POST whose answer need not be JSON, without a token (the inbound integrations).
pub fn post_text(url: &str, body: &str) -> (u16, String) {
    post_text_with(url, body, None)
}

pub fn post_text_with(url: &str, body: &str, token: Option<&str>) -> (u16, String) {
    let mut req = agent().post(url).header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.send(body).unwrap();
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap(),
    )
}

pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("steward.db").display())
}

pub fn rfc3339(t: i64) -> String {
    jiff::Timestamp::from_second(t).unwrap().to_string()
}

pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A fresh PostgreSQL schema, as a store URL; fails loudly when PostgreSQL is down.
pub fn postgres_url() -> (String, PgSchema) {
    let base = std::env::var("STEWARD_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let mut c = postgres::Client::connect(&base, postgres::NoTls).unwrap_or_else(|e| {
        panic!("PostgreSQL is not reachable at {base}: {e}; these tests do not skip")
    });
    let schema = format!("it_{}_{}", std::process::id(), now());
    c.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    ))
    .unwrap();
    (
        format!("{base}?options=-c%20search_path%3D{schema}"),
        PgSchema { base, schema },
    )
}

pub struct PgSchema {
    base: String,
    schema: String,
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.base, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        }
    }
}

/// A webhook receiver on loopback: records every request and answers as told.
pub struct Receiver {
    pub url: String,
    state: std::sync::Arc<std::sync::Mutex<ReceiverState>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    /// Reads the request and never answers.
    Hang,
}

struct ReceiverState {
    answer: Answer,
    requests: Vec<Received>,
}

#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Receiver {
    pub fn start(answer: Answer) -> Receiver {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let state = std::sync::Arc::new(std::sync::Mutex::new(ReceiverState {
            answer,
            requests: Vec::new(),
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut headers = Vec::new();
                    let mut length = 0usize;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                length = v.trim().parse().unwrap_or(0);
                            }
                            headers.push((k.trim().to_string(), v.trim().to_string()));
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let answer = {
                        let mut st = shared.lock().unwrap();
                        st.requests.push(Received {
                            at: Instant::now(),
                            headers,
                            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        });
                        st.answer
                    };
                    match answer {
                        Answer::Hang => std::thread::sleep(Duration::from_secs(60)),
                        Answer::Status(code) => {
                            let _ = write!(
                                stream,
                                "HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            );
                        }
                    }
                });
            }
        });
        Receiver { url, state }
    }

    pub fn set_answer(&self, answer: Answer) {
        self.state.lock().unwrap().answer = answer;
    }

    pub fn requests(&self) -> Vec<Received> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Waits until at least `n` requests arrived; all of them.
    pub fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            assert!(
                start.elapsed() < limit,
                "the receiver got {} of {n} requests within {limit:?}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A free loopback port (for outside programs the tests start).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `url` answers 200.
pub fn wait_http_ok(url: &str, limit: Duration) {
    let start = Instant::now();
    loop {
        if let Ok(resp) = agent().get(url).call() {
            if resp.status().as_u16() == 200 {
                return;
            }
        }
        assert!(
            start.elapsed() < limit,
            "{url} did not answer within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A child process killed when the test ends.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An SMTP server on loopback that takes every message and keeps its DATA.
pub struct SmtpSink {
    pub port: u16,
    mails: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let shared = mails.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let mut out = stream.try_clone().unwrap();
                    let mut reader = BufReader::new(stream);
                    let _ = out.write_all(b"220 sink ESMTP\r\n");
                    let mut line = String::new();
                    while reader.read_line(&mut line).unwrap_or(0) > 0 {
                        let cmd = line.trim_end().to_ascii_uppercase();
                        let reply: &[u8] = if cmd.starts_with("EHLO") {
                            b"250-sink\r\n250 8BITMIME\r\n"
                        } else if cmd.starts_with("DATA") {
                            let _ = out.write_all(b"354 go on\r\n");
                            let mut data = String::new();
                            let mut l = String::new();
                            while reader.read_line(&mut l).unwrap_or(0) > 0 {
                                if l == ".\r\n" {
                                    break;
                                }
                                data.push_str(&l);
                                l.clear();
                            }
                            shared.lock().unwrap().push(data);
                            b"250 queued\r\n"
                        } else if cmd.starts_with("QUIT") {
                            let _ = out.write_all(b"221 bye\r\n");
                            return;
                        } else {
                            b"250 ok\r\n"
                        };
                        let _ = out.write_all(reply);
                        line.clear();
                    }
                });
            }
        });
        SmtpSink { port, mails }
    }

    pub fn wait_for(&self, n: usize, limit: Duration) -> Vec<String> {
        let start = Instant::now();
        loop {
            let got = self.mails.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            assert!(
                start.elapsed() < limit,
                "{} of {n} mails within {limit:?}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Runs `steward ARGS --server BASE` with a token of `user`: its exit code and what it
/// printed.
pub fn cli_as(server: &Server, user: &str, args: &[&str]) -> (i32, String) {
    let out = steward()
        .args(args)
        .args(["--server", &server.base])
        .env("STEWARD_TOKEN", server.token_of(user))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A JSON request made with a token of `user`; the answer as JSON (null when it is not).
pub fn send_as(
    server: &Server,
    method: &str,
    user: &str,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", server.base))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", server.token_of(user)))
        .body(body.to_string())
        .unwrap();
    let mut resp = agent().run(req).unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The kinds of an incident's timeline, in order.
pub fn timeline_kinds(incident: &Value) -> Vec<String> {
    incident["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

/// An RFC 3339 time in a JSON answer, as unix seconds.
pub fn secs(v: &Value) -> i64 {
    let t: jiff::Timestamp = v.as_str().unwrap().parse().unwrap();
    t.as_second()
}

/// A browser of sorts, for the console's login flows: no redirect is followed unless asked,
/// and cookies are kept by name (for every host: the tests run on one loopback address).
pub struct Browser {
    pub cookies: Vec<(String, String)>,
    pub agent: String,
}

pub struct Page {
    pub url: String,
    pub status: u16,
    pub location: Option<String>,
    pub retry_after: Option<String>,
    pub body: String,
}

impl Default for Browser {
    fn default() -> Self {
        Browser {
            cookies: Vec::new(),
            agent: "steward-test-browser".into(),
        }
    }
}

impl Browser {
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// One request; `form` is sent urlencoded.
    pub fn send(&mut self, method: &str, url: &str, form: &[(&str, &str)]) -> Page {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect();
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("user-agent", &self.agent);
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.header("cookie", jar.join("; "));
        }
        let mut resp = agent.run(req.body(body.join("&")).unwrap()).unwrap();
        for c in resp.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let (k, v) = c.split(';').next().unwrap().split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            let expired = c.to_ascii_lowercase().contains("max-age=0")
                || c.to_ascii_lowercase().contains("expires=thu, 01 jan 1970");
            if !v.is_empty() && !expired {
                self.cookies.push((k.to_string(), v.to_string()));
            }
        }
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .map(|v| v.to_str().unwrap().to_string())
        };
        let location = header("location").map(|l| absolute(url, &l));
        let retry_after = header("retry-after");
        Page {
            url: url.to_string(),
            status: resp.status().as_u16(),
            location,
            retry_after,
            body: resp.body_mut().read_to_string().unwrap_or_default(),
        }
    }

    /// GETs `url` and follows redirects (at most 20).
    pub fn follow(&mut self, url: &str) -> Page {
        let mut page = self.send("GET", url, &[]);
        for _ in 0..20 {
            match (&page.status, &page.location) {
                (301..=308, Some(to)) => {
                    let to = to.clone();
                    page = self.send("GET", &to, &[]);
                }
                _ => return page,
            }
        }
        panic!("more than 20 redirects from {url}");
    }
}

/// `location` made absolute against the URL it answered.
fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_string();
    }
    let origin_end = base
        .find("://")
        .and_then(|i| base[i + 3..].find('/').map(|j| i + 3 + j))
        .unwrap_or(base.len());
    format!("{}{location}", &base[..origin_end])
}

pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

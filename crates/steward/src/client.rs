//! A small client of a running server's API, for the commands that read and change it.

use anyhow::Context;
use serde_json::Value;

pub struct Client {
    base: String,
    agent: ureq::Agent,
    /// Sent as `X-Steward-User`: who makes a change, to a server that lets callers without
    /// a token in.
    user: Option<String>,
    /// Sent as `Authorization: Bearer`: `--token`, else `STEWARD_TOKEN`.
    token: Option<String>,
}

impl Client {
    pub fn new(server: &str, user: Option<String>) -> Client {
        Client {
            base: server.trim_end_matches('/').to_string(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(std::time::Duration::from_secs(10)))
                .build()
                .into(),
            user,
            token: std::env::var("STEWARD_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
        }
    }

    /// Uses this token (`--token`) rather than `STEWARD_TOKEN`'s.
    pub fn with_token(mut self, token: Option<String>) -> Client {
        if token.is_some() {
            self.token = token;
        }
        self
    }

    fn request(&self, method: &str, url: &str) -> ureq::http::request::Builder {
        let mut req = ureq::http::Request::builder().method(method).uri(url);
        match (&self.token, &self.user) {
            (Some(t), _) => req = req.header("authorization", format!("Bearer {t}")),
            (None, Some(u)) => req = req.header("x-steward-user", u),
            (None, None) => {}
        }
        req
    }

    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let req = self
            .request("GET", &url)
            .body(())
            .with_context(|| format!("{url} is not a URL"))?;
        let resp = self.agent.run(req);
        self.answer(&url, resp)
    }

    /// A GET whose answer is text (Markdown, iCal) when it succeeds.
    pub fn get_text(&self, path: &str) -> anyhow::Result<String> {
        let url = format!("{}{path}", self.base);
        let req = self
            .request("GET", &url)
            .body(())
            .with_context(|| format!("{url} is not a URL"))?;
        let mut resp = self.agent.run(req).with_context(|| {
            format!(
                "cannot reach Steward at {}; is `steward serve` running there?",
                self.base
            )
        })?;
        let status = resp.status();
        let text = resp
            .body_mut()
            .read_to_string()
            .with_context(|| format!("reading the answer of {url}"))?;
        if !status.is_success() {
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let msg = body["error"]["message"].as_str().unwrap_or("no message");
            anyhow::bail!("{url}: {status}: {msg}");
        }
        Ok(text)
    }

    pub fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send("POST", path, body)
    }

    pub fn put(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send("PUT", path, body)
    }

    fn send(&self, method: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let req = self
            .request(method, &url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .with_context(|| format!("{url} is not a URL"))?;
        let resp = self.agent.run(req);
        self.answer(&url, resp)
    }

    fn answer(
        &self,
        url: &str,
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<Value> {
        let mut resp = resp.with_context(|| {
            format!(
                "cannot reach Steward at {}; is `steward serve` running there?",
                self.base
            )
        })?;
        let status = resp.status();
        let text = resp
            .body_mut()
            .read_to_string()
            .with_context(|| format!("reading the answer of {url}"))?;
        let body: Value = serde_json::from_str(&text)
            .with_context(|| format!("{url} did not answer with JSON"))?;
        if !status.is_success() {
            let msg = body["error"]["message"].as_str().unwrap_or("no message");
            anyhow::bail!("{url}: {status}: {msg}");
        }
        Ok(body)
    }
}

/// Lines of columns, each as wide as its widest cell.
pub fn table(rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            let w = c.chars().count();
            match widths.get_mut(i) {
                Some(x) => *x = (*x).max(w),
                None => widths.push(w),
            }
        }
    }
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// A JSON value as a table cell: strings as they are, null as `-`.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

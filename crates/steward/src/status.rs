//! `steward slo status`: a running server's SLOs as a table or JSON.

use crate::Output;
use anyhow::Context;
use serde_json::Value;

pub fn run(server: &str, name: Option<&str>, output: Output) -> anyhow::Result<()> {
    let base = server.trim_end_matches('/');
    let url = match name {
        Some(n) => format!("{base}/api/v1/slos/{n}"),
        None => format!("{base}/api/v1/slos"),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    let mut resp = agent.get(&url).call().with_context(|| {
        format!("cannot reach Steward at {base}; is `steward serve` running there?")
    })?;
    let status = resp.status();
    let text = resp
        .body_mut()
        .read_to_string()
        .with_context(|| format!("reading the answer of {url}"))?;
    let body: Value =
        serde_json::from_str(&text).with_context(|| format!("{url} did not answer with JSON"))?;
    if !status.is_success() {
        let msg = body["error"]["message"].as_str().unwrap_or("no message");
        anyhow::bail!("{url}: {status}: {msg}");
    }
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&body)?),
        Output::Table => {
            let slos = match name {
                Some(_) => vec![body],
                None => body["slos"].as_array().cloned().unwrap_or_default(),
            };
            print!("{}", table(&slos));
        }
    }
    Ok(())
}

fn table(slos: &[Value]) -> String {
    let mut rows = vec![[
        "SLO".to_string(),
        "OBJECTIVE".into(),
        "WINDOW".into(),
        "SLI".into(),
        "BUDGET LEFT".into(),
        "BURN 5m/1h/6h/3d".into(),
        "FIRING".into(),
    ]];
    for s in slos {
        let pct = |v: &Value| {
            v.as_f64()
                .map_or("-".into(), |x| format!("{:.3}%", x * 100.0))
        };
        let burn = |w: &str| {
            s["burn_rates"][w]
                .as_f64()
                .map_or("-".into(), |b| format!("{b:.2}"))
        };
        let firing: Vec<String> = s["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["firing"].as_bool() == Some(true))
            .map(|a| {
                format!(
                    "{} {}/{}",
                    a["severity"].as_str().unwrap_or(""),
                    a["long_window"].as_str().unwrap_or(""),
                    a["short_window"].as_str().unwrap_or("")
                )
            })
            .collect();
        rows.push([
            s["name"].as_str().unwrap_or("").to_string(),
            pct(&s["objective"]),
            s["window"].as_str().unwrap_or("").to_string(),
            pct(&s["sli"]["ratio"]),
            pct(&s["error_budget"]["remaining_ratio"]),
            format!(
                "{}/{}/{}/{}",
                burn("5m"),
                burn("1h"),
                burn("6h"),
                burn("3d")
            ),
            if firing.is_empty() {
                "-".into()
            } else {
                firing.join(", ")
            },
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

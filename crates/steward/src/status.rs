//! `steward slo status`: a running server's SLOs as a table or JSON.

use crate::Output;
use serde_json::Value;

pub fn run(
    server: &str,
    token: Option<String>,
    name: Option<&str>,
    output: Output,
) -> anyhow::Result<()> {
    let client = crate::client::Client::new(server, None).with_token(token);
    let body = match name {
        Some(n) => client.get(&format!("/api/v1/slos/{n}"))?,
        None => client.get("/api/v1/slos")?,
    };
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
    let mut rows = vec![vec![
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
        rows.push(vec![
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
    crate::client::table(&rows)
}

//! Tokens end to end: the first admin's token made on the store while the server runs, the
//! CLI sending it, and a revoked token refused on its very next request.

use crate::support::*;
use std::process::Output;

fn run(args: &[&str], token: Option<&str>) -> Output {
    let mut c = steward();
    c.args(args).env_remove("STEWARD_TOKEN");
    if let Some(t) = token {
        c.env("STEWARD_TOKEN", t);
    }
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_first_admin_gets_in_with_a_token_made_while_the_server_runs_and_loses_it_on_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let config = example_config();
    let server = Server::start(&config, &db);
    let config = config.to_str().unwrap();

    // Without a token, nothing but health answers.
    let (status, body) = request("GET", &format!("{}/api/v1/slos", server.base), None);
    assert_eq!(status, 401, "{body}");
    let o = run(&["alerts", "list", "--server", &server.base], None);
    assert!(!o.status.success());
    assert!(text(&o).contains("401"), "{}", text(&o));

    // ana is the shop's admin. The token is all that create prints.
    let o = run(
        &[
            "token", "create", "--user", "ana", "--name", "laptop", "--config", config, "--db", &db,
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8(o.stdout).unwrap();
    let token = stdout.trim_end_matches('\n');
    assert!(
        token.starts_with("stw_") && !token.contains(char::is_whitespace),
        "{stdout:?}"
    );

    let o = run(&["alerts", "list", "--server", &server.base], Some(token));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(
        &[
            "alerts",
            "list",
            "--server",
            &server.base,
            "--token",
            token,
            "--output",
            "json",
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let (status, me) = request_with(
        "GET",
        &format!("{}/api/v1/me", server.base),
        None,
        Some(token),
    );
    assert_eq!(status, 200);
    assert_eq!(
        me,
        serde_json::json!({"user": "ana", "role": "admin", "customer": null})
    );

    // The store keeps no token, only its hash.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "the token is in a store file"
        );
    }

    // Revoked on the store; refused on the very next request.
    let o = run(&["token", "list", "--db", &db, "--output", "json"], None);
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let id = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "laptop")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let o = run(&["token", "revoke", &id.to_string(), "--db", &db], None);
    assert!(o.status.success(), "{}", text(&o));
    let (status, body) = request_with(
        "GET",
        &format!("{}/api/v1/me", server.base),
        None,
        Some(token),
    );
    assert_eq!(status, 401);
    assert_eq!(body["error"]["message"], "the token was revoked");

    // A user the configuration does not have gets no token.
    let o = run(
        &[
            "token", "create", "--user", "mallory", "--config", config, "--db", &db,
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("user `mallory` is not in the configuration"),
        "{}",
        text(&o)
    );
    assert!(o.stdout.is_empty());
}

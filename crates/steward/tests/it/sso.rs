//! Single sign-on end to end against a real OpenID provider the test runs: the certified
//! `oidc-provider` package under node (`testdata/oidc`, installed by `scripts/test.sh`).
//! People sign in through its login and consent pages; Steward exchanges the code with
//! PKCE, checks the ID token's signature and claims, and gives each the role its groups
//! map to. An identity that matches no User is refused with a page that says so.

use crate::support::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "a-client-secret-for-the-sso-test-0123456789";

fn provider_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/oidc")
}

fn config(dir: &Path, provider_port: u16) -> PathBuf {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("steward.yaml"),
        format!(
            r#"
apiVersion: steward/v1
kind: SingleSignOn
metadata: {{name: company-idp, displayName: Company login}}
spec:
  issuer: http://127.0.0.1:{provider_port}
  clientId: steward
  clientSecret: {{value: {SECRET}}}
  userClaim: preferred_username
  groupsClaim: groups
  roles: {{admin: [sre-leads], responder: [sre]}}
---
apiVersion: steward/v1
kind: User
metadata: {{name: ana}}
spec: {{role: responder}}
---
apiVersion: steward/v1
kind: User
metadata: {{name: bo}}
spec: {{}}
---
apiVersion: steward/v1
kind: User
metadata: {{name: chen}}
spec: {{role: viewer}}
"#
        ),
    )
    .unwrap();
    config
}

/// Starts the provider with Steward's callback as the client's redirect URI.
fn provider(port: u16, steward: &str) -> Daemon {
    let dir = provider_dir();
    assert!(
        dir.join("node_modules/oidc-provider").is_dir(),
        "oidc-provider is not installed in {} (scripts/test.sh installs it with npm ci)",
        dir.display()
    );
    let mut child = Command::new("node")
        .arg(dir.join("provider.mjs"))
        .args([
            port.to_string(),
            format!("{steward}/login/oidc/callback"),
            SECRET.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node is installed (scripts/test.sh installs it)");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line == "ready" {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the OpenID provider did not start within 30 s");
    Daemon(child)
}

/// Where a page's form posts to, as an absolute URL.
fn uid_form(page: &Page) -> String {
    let at = page.body.find("action=\"").expect("a form") + 8;
    let action = &page.body[at..];
    let action = &action[..action.find('"').unwrap()];
    if action.starts_with("http") {
        return action.to_string();
    }
    let origin_end = page.url[7..].find('/').unwrap() + 7;
    format!("{}{action}", &page.url[..origin_end])
}

/// Signs in as `login` at the provider, from Steward's login link: the page it ends on.
fn sign_in(b: &mut Browser, steward: &str, login: &str) -> Page {
    let form = b.follow(&format!("{steward}/login"));
    assert!(
        form.body.contains("Log in with Company login"),
        "{}",
        form.body
    );
    let at_provider = b.follow(&format!("{steward}/login/oidc?next=/api/v1/me"));
    assert_eq!(at_provider.status, 200, "{}", at_provider.body);
    assert!(
        at_provider.body.contains(r#"name="login""#),
        "{}",
        at_provider.body
    );
    let action = uid_form(&at_provider);
    let mut page = b.send(
        "POST",
        &action,
        &[("prompt", "login"), ("login", login), ("password", "any")],
    );
    // Through the consent page (once per person), back to Steward's callback.
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(30));
        match (&page.status, &page.location) {
            (301..=308, Some(to)) => {
                if to.starts_with(&format!("{steward}/login/oidc/callback")) {
                    return b.send("GET", &to.clone(), &[]);
                }
                let to = to.clone();
                page = b.send("GET", &to, &[]);
            }
            (200, _) if page.body.contains(r#"value="consent""#) => {
                let action = uid_form(&page);
                page = b.send("POST", &action, &[("prompt", "consent")]);
            }
            _ => panic!("stuck at {} ({}): {}", page.url, page.status, page.body),
        }
    }
}

fn me(b: &mut Browser, steward: &str) -> Value {
    let page = b.send("GET", &format!("{steward}/api/v1/me"), &[]);
    assert_eq!(page.status, 200, "{}", page.body);
    serde_json::from_str(&page.body).unwrap()
}

#[test]
fn people_sign_in_through_a_real_openid_provider_with_the_role_their_groups_give() {
    let dir = tempfile::tempdir().unwrap();
    let provider_port = free_port();
    let server = Server::start(&config(dir.path(), provider_port), &sqlite_url(dir.path()));
    let _provider = provider(provider_port, &server.base);

    // ana is a responder in the configuration; her group makes her an admin.
    let mut ana = Browser::default();
    let back = sign_in(&mut ana, &server.base, "ana");
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(
        back.location.as_deref(),
        Some(format!("{}/api/v1/me", server.base).as_str())
    );
    assert!(ana.cookie("steward_session").is_some());
    assert_eq!(
        me(&mut ana, &server.base),
        json!({ "user": "ana", "role": "admin", "customer": null })
    );
    // The callback cannot be used twice.
    let replay = ana.send("GET", &back.url, &[]);
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(replay.body.contains("used already"), "{}", replay.body);

    // bo's group gives responder; chen's group gives nothing, so his own role holds.
    let mut bo = Browser::default();
    assert_eq!(sign_in(&mut bo, &server.base, "bo").status, 303);
    assert_eq!(me(&mut bo, &server.base)["role"], "responder");
    let mut chen = Browser::default();
    assert_eq!(sign_in(&mut chen, &server.base, "chen").status, 303);
    assert_eq!(me(&mut chen, &server.base)["role"], "viewer");

    // mallory has an identity at the provider but is no User: refused, and told why.
    let mut mallory = Browser::default();
    let refused = sign_in(&mut mallory, &server.base, "mallory");
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused.body.contains("no Steward user is `mallory`"),
        "{}",
        refused.body
    );
    assert!(mallory.cookie("steward_session").is_none());
    assert_eq!(
        mallory
            .send("GET", &format!("{}/api/v1/me", server.base), &[])
            .status,
        401
    );

    // A callback this browser did not start is refused.
    let mut stranger = Browser::default();
    let forged = stranger.send(
        "GET",
        &format!("{}/login/oidc/callback?code=x&state=y", server.base),
        &[],
    );
    assert_eq!(forged.status, 400, "{}", forged.body);

    let (_, audit) = server.get("/api/v1/audit");
    let text = audit.to_string();
    assert_eq!(text.matches("\"login.sso\"").count(), 3, "{text}");
    assert_eq!(text.matches("\"login.failed\"").count(), 1, "{text}");
}

//! The console's login end to end, against the real binary: a password set with
//! `steward user set-password`, the login form and its nonce, a session cookie, CSRF tokens
//! on forms, logout and revocation taking effect at once, and a scripted password guesser
//! held back by the throttle without learning which users exist.

use crate::support::*;
use std::io::Write;
use std::process::Stdio;

/// The console's pages through a [`Browser`], by path.
struct Console {
    base: String,
    b: Browser,
}

impl Console {
    fn new(base: &str) -> Console {
        Console {
            base: base.to_string(),
            b: Browser {
                agent: "login-test".into(),
                ..Default::default()
            },
        }
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.b.cookie(name)
    }

    fn send(&mut self, method: &str, path: &str, form: &[(&str, &str)]) -> Page {
        let url = format!("{}{path}", self.base);
        let mut p = self.b.send(method, &url, form);
        // Paths, as the server wrote them.
        p.location = p
            .location
            .map(|l| l.strip_prefix(&self.base).map_or(l.clone(), str::to_string));
        p
    }

    /// Loads the login form and posts it.
    fn log_in(&mut self, user: &str, password: &str) -> Page {
        let form = self.send("GET", "/login?next=/alerts/1", &[]);
        assert_eq!(form.status, 200);
        let nonce = hidden(&form.body, "csrf");
        assert_eq!(self.cookie("steward_login"), Some(nonce.as_str()));
        self.send(
            "POST",
            "/login",
            &[
                ("csrf", &nonce),
                ("next", "/alerts/1"),
                ("user", user),
                ("password", password),
            ],
        )
    }
}

/// The value of a page's hidden field `name`.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[at..].split('"').next().unwrap().to_string()
}

fn set_password(server: &Server, user: &str, password: &str) -> (bool, String) {
    let mut child = steward()
        .args(["user", "set-password", user, "--db", &server.db, "--config"])
        .arg(&server.config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_session_from_the_login_form_works_until_logout_and_its_forms_need_their_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&example_config(), &sqlite_url(dir.path()));
    assert_eq!(
        set_password(&server, "ana", "short"),
        (
            false,
            "error: the password has 5 characters; it needs at least 8\n".into()
        )
    );
    let (ok, said) = set_password(&server, "ana", "correct horse battery");
    assert!(ok, "{said}");

    // Without a session the console sends the browser to log in, and back afterwards.
    let mut b = Console::new(&server.base);
    let first = b.send("GET", "/alerts/1", &[]);
    assert_eq!(
        (first.status, first.location.as_deref()),
        (303, Some("/login?next=/alerts/1"))
    );
    let login = b.log_in("ana", "correct horse battery");
    assert_eq!(
        (login.status, login.location.as_deref()),
        (303, Some("/alerts/1")),
        "{}",
        login.body
    );
    let session = b.cookie("steward_session").unwrap().to_string();
    assert!(b.cookie("steward_login").is_none(), "the nonce is spent");
    let home = b.send("GET", "/", &[]);
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Log out"), "{}", home.body);
    let csrf = hidden(&home.body, "csrf");

    // A form posted without its CSRF token (or with another) is refused, with it taken.
    for token in ["", "0000"] {
        let refused = b.send("POST", "/incidents/1/ack", &[("csrf", token)]);
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(refused.body.contains("CSRF"), "{}", refused.body);
    }
    let taken = b.send("POST", "/incidents/1/ack", &[("csrf", &csrf)]);
    assert_eq!(
        taken.status, 404,
        "past the check, no incident 1: {}",
        taken.body
    );

    // The store holds neither the password nor the session's secret.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for secret in ["correct horse battery", session.as_str()] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} is in a store file"
            );
        }
    }

    // Logout ends the session at once, on every request after it.
    let out = b.send("POST", "/logout", &[("csrf", &csrf)]);
    assert_eq!((out.status, out.location.as_deref()), (303, Some("/login")));
    let mut old = Console::new(&server.base);
    old.b.cookies.push(("steward_session".into(), session));
    assert_eq!(old.send("GET", "/", &[]).status, 303);

    // A session revoked through the API is refused at once too.
    assert_eq!(b.log_in("ana", "correct horse battery").status, 303);
    assert_eq!(b.send("GET", "/", &[]).status, 200);
    let (_, tokens) = server.get("/api/v1/tokens?user=ana");
    let live = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "session" && t["revoked_at"].is_null())
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (status, _) = server.send("DELETE", &format!("/api/v1/tokens/{live}"), None);
    assert_eq!(status, 204);
    assert_eq!(b.send("GET", "/", &[]).status, 303);

    // Setting the password again ends every session of the user.
    assert_eq!(b.log_in("ana", "correct horse battery").status, 303);
    assert!(set_password(&server, "ana", "another good one").0);
    assert_eq!(b.send("GET", "/", &[]).status, 303);

    // A session cookie is no API token, nor an API token a cookie.
    let (status, _) = request_with(
        "GET",
        &format!("{}/api/v1/me", server.base),
        None,
        Some(b.cookie("steward_session").unwrap_or("stw_x")),
    );
    assert_eq!(status, 401);

    // The audit trail has the logins, the failures and the logout, with where from.
    let (_, audit) = server.get("/api/v1/audit");
    let text = audit.to_string();
    for action in ["\"login\"", "\"logout\"", "\"password.set\""] {
        assert!(text.contains(action), "{action} in {text}");
    }
    assert!(text.contains("login-test"), "the user agent: {text}");
}

#[test]
fn a_scripted_password_guesser_is_held_back_and_learns_nothing_of_who_exists() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&example_config(), &sqlite_url(dir.path()));
    assert!(set_password(&server, "ana", "correct horse battery").0);
    let mut b = Console::new(&server.base);

    // Five wrong guesses each, for a user that exists, one without a password and one that
    // does not exist: the same answer every time.
    let mut answers = Vec::new();
    for user in ["ana", "bo", "nobody-here"] {
        for guess in 0..5 {
            let a = b.log_in(user, &format!("guess-{guess}"));
            answers.push((
                a.status,
                a.body.contains("the user name or the password is wrong"),
            ));
        }
    }
    assert!(answers.iter().all(|a| *a == (401, true)), "{answers:?}");
    // The sixth guess of each is held back, the right password too, with Retry-After.
    for user in ["ana", "bo", "nobody-here"] {
        let a = b.log_in(user, "correct horse battery");
        assert_eq!(a.status, 429, "{user}: {}", a.body);
        let wait: i64 = a.retry_after.unwrap().parse().unwrap();
        assert!((800..=900).contains(&wait), "{wait}");
        assert!(a.body.contains("too many failed logins"), "{}", a.body);
    }
    // The address is held back too, after twenty: another name from it waits as well.
    for guess in 0..5 {
        b.log_in("carl", &format!("guess-{guess}"));
    }
    let a = b.log_in("dora", "x");
    assert_eq!(a.status, 429, "{}", a.body);
    assert!(b.cookie("steward_session").is_none());

    let (_, audit) = server.get("/api/v1/audit");
    let failed = audit.to_string().matches("\"login.failed\"").count();
    assert_eq!(
        failed, 20,
        "every failure is audited, the held-back tries are not"
    );
}

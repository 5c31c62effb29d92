//! HTTPS in the binary: `serve --tls-cert --tls-key` with a certificate the test makes with
//! openssl; curl, trusting only that certificate, reaches the API over it.

use crate::support::*;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;

fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl is installed (scripts/test.sh installs it)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn serve_speaks_https_with_the_certificate_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed (scripts/test.sh installs it)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );

    let config = example_config();
    let db = sqlite_url(dir.path());
    let token = make_token(&config, &db, "ana");
    let mut child = Daemon(
        steward()
            .args(["serve", "--listen", "127.0.0.1:0", "--db", &db, "--config"])
            .arg(&config)
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let base = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("steward is serving on ")
                .map(|a| a.trim_end_matches('/').to_string())
        })
        .expect("it serves");
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let cert = cert.to_str().unwrap();
    let started = std::time::Instant::now();
    loop {
        let (ok, said) = curl(&["--cacert", cert, &format!("{base}/readyz")]);
        if ok && said.contains("\"ready\"") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{said}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (ok, me) = curl(&[
        "--cacert",
        cert,
        "-H",
        &format!("authorization: Bearer {token}"),
        &format!("{base}/api/v1/me"),
    ]);
    assert!(ok && me.contains(r#""user":"ana""#), "{me}");
    // By name, as the certificate says.
    let port = base.rsplit(':').next().unwrap();
    let (ok, said) = curl(&[
        "--cacert",
        cert,
        &format!("https://localhost:{port}/healthz"),
    ]);
    assert!(ok && said.contains("ok"), "{said}");
    // Not without trusting the certificate, and not in plain HTTP.
    assert!(!curl(&[&format!("{base}/healthz")]).0);
    assert!(!curl(&[&format!("http://127.0.0.1:{port}/healthz")]).0);
}

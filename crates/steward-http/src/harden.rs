//! What every answer carries and every request is checked for before anything else:
//! security headers (a Content-Security-Policy without inline script, no framing, no
//! sniffing, no referrer: a login link's token never leaks through one), a `Host` that is
//! this server's (a name that rebinds to a loopback address does not reach the console
//! from another site), and a body limit.

use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The policy of every page: styles inline (the console has no script at all), forms only
/// to this server, never framed.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Whether a request's `Host` may reach this server: an IP address (a name that rebinds
/// cannot be one), `localhost`, or the public URL's host. Health and readiness are asked by
/// load balancers under any name, and are let through.
pub fn host_allowed(host: Option<&str>, public_url: &str) -> bool {
    let Some(host) = host else {
        // HTTP/1.0 without Host: no browser sends that.
        return true;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => {
            return v6
                .split(']')
                .next()
                .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok())
        }
        None => host.rsplit_once(':').map_or(host, |(n, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                n
            } else {
                host
            }
        }),
    };
    if name.parse::<std::net::Ipv4Addr>().is_ok() || name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let public = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let public_name = public.rsplit_once(':').map_or(public, |(n, _)| n);
    !public_name.is_empty() && name.eq_ignore_ascii_case(public_name)
}

/// The layer in front of everything.
pub async fn guard(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let health = matches!(path, "/healthz" | "/readyz");
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    let public_url = app.engine().alerting.public_url();
    let mut resp = if health || host_allowed(host.as_deref(), &public_url) {
        next.run(req).await
    } else {
        crate::error::ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "wrong_host",
            format!(
                "this server answers to its address or {public_url}, not to the name `{}`",
                host.unwrap_or_default()
            ),
        )
        .into_response()
    };
    let h = resp.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if public_url.starts_with("https://") {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_localhost_and_the_public_name_reach_the_server() {
        let public = "https://steward.example.com/";
        for ok in [
            "127.0.0.1:8580",
            "10.0.0.7",
            "[::1]:8580",
            "localhost:8580",
            "LOCALHOST",
            "steward.example.com",
            "Steward.Example.com:443",
        ] {
            assert!(host_allowed(Some(ok), public), "{ok}");
        }
        for bad in [
            "evil.example.com",
            "rebind.attacker.test:8580",
            "steward.example.com.evil.test",
            "[not-an-address]:1",
            "",
        ] {
            assert!(!host_allowed(Some(bad), public), "{bad}");
        }
        assert!(host_allowed(None, public));
        assert!(!host_allowed(Some("evil.example.com"), ""));
    }
}

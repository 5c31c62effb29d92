//! Single sign-on with OpenID Connect: the authorization code flow with PKCE (RFC 7636).
//!
//! `GET /login/oidc` makes a state, a nonce and a PKCE verifier, keeps them here for ten
//! minutes (the state is also in a cookie of the browser that started, so a login cannot be
//! planted in another's browser), and sends the browser to the provider. The provider sends
//! it back to `GET /login/oidc/callback` with a code, which Steward exchanges at the token
//! endpoint (with its client secret and the verifier) for an ID token. The token's signature
//! is checked against the provider's published keys (RS256 or ES256; `none` and the rest are
//! refused), and its issuer, audience, expiry and nonce. Its user claim must name a User
//! (by name or email): an identity that matches none is refused with a page that says so.
//! The groups claim gives the session's role through the SingleSignOn document's `roles`.

use crate::alerts::{blocking, encode, now};
use crate::error::ApiError;
use crate::login::{form_pairs, Client};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use steward_model::catalog::{Role, SingleSignOn};
use steward_store::{NewToken, TokenKind};

/// The cookie that ties a login's state to the browser that started it.
const STATE_COOKIE: &str = "steward_oidc";
/// How long a login may take at the provider (seconds).
const FLOW_LIFETIME: i64 = 600;
/// Logins in progress kept at most; the oldest go first.
const MAX_PENDING: usize = 10_000;
/// Clock skew allowed on an ID token's times (seconds).
const SKEW: i64 = 60;

/// A login waiting for the provider to send the browser back.
struct Pending {
    verifier: String,
    nonce: String,
    next: String,
    started: i64,
}

/// Logins in progress, by state.
#[derive(Default)]
pub struct Flows {
    pending: Mutex<HashMap<String, Pending>>,
}

impl Flows {
    fn put(&self, state: String, p: Pending) {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let t = p.started;
        map.retain(|_, v| v.started > t - FLOW_LIFETIME);
        if map.len() >= MAX_PENDING {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, v)| v.started)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(state, p);
    }

    /// The login of `state`, once: a state is good for one callback.
    fn take(&self, state: &str, now: i64) -> Option<Pending> {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(state)
            .filter(|p| p.started > now - FLOW_LIFETIME)
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into()
}

/// The status and text of the provider's answer (at most 1 MiB).
fn read(mut resp: ureq::http::Response<ureq::Body>, what: &str) -> Result<(u16, String), String> {
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .map_err(|e| format!("{what}: {e}"))?;
    Ok((status, text))
}

/// A JSON document from the provider.
fn fetch_json(url: &str) -> Result<Value, String> {
    let resp = agent()
        .get(url)
        .call()
        .map_err(|e| format!("{url} could not be reached: {e}"))?;
    let (status, text) = read(resp, url)?;
    if status != 200 {
        return Err(format!("{url} answered {status}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("{url} is not JSON: {e}"))
}

/// The provider's endpoints, from its discovery document.
struct Endpoints {
    authorization: String,
    token: String,
    jwks: String,
}

fn discover(sso: &SingleSignOn) -> Result<Endpoints, String> {
    let doc = fetch_json(&format!("{}/.well-known/openid-configuration", sso.issuer))?;
    if doc["issuer"].as_str().map(|i| i.trim_end_matches('/')) != Some(sso.issuer.as_str()) {
        return Err(format!(
            "the discovery document names issuer {}, not {}",
            doc["issuer"], sso.issuer
        ));
    }
    let field = |k: &str| {
        doc[k]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("the discovery document has no {k}"))
    };
    Ok(Endpoints {
        authorization: field("authorization_endpoint")?,
        token: field("token_endpoint")?,
        jwks: field("jwks_uri")?,
    })
}

fn redirect_uri(app: &AppState) -> String {
    format!(
        "{}/login/oidc/callback",
        app.engine().alerting.public_url().trim_end_matches('/')
    )
}

fn page(status: StatusCode, message: &str) -> Response {
    crate::login::message_page(status, message)
}

/// `GET /login/oidc[?next=PATH]`: sends the browser to the identity provider.
pub async fn start(State(app): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let Some(sso) = app.engine().catalog().sso.clone() else {
        return ApiError::not_found("single sign-on is not configured").into_response();
    };
    let pairs = form_pairs(query.unwrap_or_default().as_bytes());
    let next = pairs
        .iter()
        .find(|(k, _)| k == "next")
        .map_or("/", |(_, v)| v.as_str())
        .to_string();
    let asked = sso.clone();
    let endpoints = match blocking(move || Ok(discover(&asked))).await {
        Ok(Ok(e)) => e,
        Ok(Err(why)) => {
            tracing::error!("single sign-on: {why}");
            return page(
                StatusCode::BAD_GATEWAY,
                &format!("the identity provider cannot be used now: {why}"),
            );
        }
        Err(e) => return e.into_response(),
    };
    let secrets = (
        steward_store::random_hex(),
        steward_store::random_hex(),
        steward_store::random_hex(),
    );
    let (Ok(state), Ok(nonce), Ok(verifier)) = secrets else {
        return ApiError::internal("the system has no randomness").into_response();
    };
    let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    let url = format!(
        "{}{}response_type=code&client_id={}&redirect_uri={}&scope={}&state={state}&nonce={nonce}&code_challenge={challenge}&code_challenge_method=S256",
        endpoints.authorization,
        if endpoints.authorization.contains('?') { '&' } else { '?' },
        encode(&sso.client_id),
        encode(&redirect_uri(&app)),
        encode("openid profile email"),
    );
    app.flows.put(
        state.clone(),
        Pending {
            verifier,
            nonce,
            next,
            started: now(),
        },
    );
    let mut r = axum::response::Redirect::to(&url).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        crate::login::set_cookie(&app, STATE_COOKIE, &state, "/login", FLOW_LIFETIME),
    );
    r
}

/// What the ID token said of who signed in.
struct Identity {
    claims: Value,
    groups: Vec<String>,
}

/// The User an ID token's claims name: by the configured claim against the User's name, or,
/// when the claim is `email`, against the User's email, which the provider must have
/// verified (a name or an address anyone could give themselves names no one).
fn user_for(
    sso: &SingleSignOn,
    claims: &Value,
    users: &[(String, Option<String>)],
) -> Result<String, String> {
    let value = claims[sso.user_claim.as_str()]
        .as_str()
        .ok_or_else(|| format!("the ID token has no `{}` claim", sso.user_claim))?;
    let found = if sso.user_claim == "email" {
        if claims["email_verified"] != Value::Bool(true) {
            return Err(format!(
                "the identity provider has not verified the email `{value}`"
            ));
        }
        users.iter().find(|(_, email)| {
            email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(value))
        })
    } else {
        users.iter().find(|(name, _)| name == value)
    };
    found
        .map(|(name, _)| name.clone())
        .ok_or_else(|| format!("no Steward user is `{value}`"))
}

/// Exchanges the code for an ID token and checks it.
fn identify(
    sso: &SingleSignOn,
    redirect: &str,
    code: &str,
    p: &Pending,
) -> Result<Identity, String> {
    let endpoints = discover(sso)?;
    let basic = STANDARD.encode(format!(
        "{}:{}",
        encode(&sso.client_id),
        encode(&sso.client_secret)
    ));
    let form = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={}",
        encode(code),
        encode(redirect),
        encode(&p.verifier)
    );
    let resp = agent()
        .post(&endpoints.token)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", &format!("Basic {basic}"))
        .send(&form)
        .map_err(|e| format!("the token endpoint could not be reached: {e}"))?;
    let (status, text) = read(resp, "the token endpoint")?;
    if status != 200 {
        return Err(format!("the token endpoint answered {status}: {text}"));
    }
    let answer: Value =
        serde_json::from_str(&text).map_err(|e| format!("the token answer is not JSON: {e}"))?;
    let id_token = answer["id_token"]
        .as_str()
        .ok_or("the token answer has no id_token")?;
    let keys = fetch_json(&endpoints.jwks)?;
    let claims = verify_jwt(id_token, &keys)?;
    check_claims(&claims, sso, &p.nonce, now())?;
    let groups = match &claims[sso.groups_claim.as_str()] {
        Value::Array(a) => a
            .iter()
            .filter_map(|g| g.as_str().map(str::to_string))
            .collect(),
        Value::String(g) => vec![g.clone()],
        _ => Vec::new(),
    };
    Ok(Identity { claims, groups })
}

fn b64(part: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|e| format!("the ID token is not base64url: {e}"))
}

/// The claims of a JWT whose signature one of `keys` (a JWK set) makes: RS256 or ES256.
pub fn verify_jwt(jwt: &str, keys: &Value) -> Result<Value, String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [head, body, signature] = parts.as_slice() else {
        return Err("the ID token is not a signed JWT (three parts)".into());
    };
    let header: Value =
        serde_json::from_slice(&b64(head)?).map_err(|e| format!("the JWT header: {e}"))?;
    let alg = header["alg"].as_str().unwrap_or_default();
    let kty = match alg {
        "RS256" => "RSA",
        "ES256" => "EC",
        other => {
            return Err(format!(
                "the ID token is signed with `{other}`; RS256 and ES256 are taken"
            ))
        }
    };
    let kid = header["kid"].as_str();
    let key = keys["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| {
            k["kty"] == kty
                && k["use"].as_str().is_none_or(|u| u == "sig")
                && (kid.is_none() || k["kid"].as_str() == kid)
        })
        .ok_or("no key of the provider's signs this ID token")?;
    let part = |name: &str| b64(key[name].as_str().unwrap_or_default());
    let (message, signature) = (format!("{head}.{body}"), b64(signature)?);
    let held = if alg == "RS256" {
        ring::signature::RsaPublicKeyComponents {
            n: part("n")?,
            e: part("e")?,
        }
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            message.as_bytes(),
            &signature,
        )
    } else {
        let mut point = vec![4u8];
        point.extend(part("x")?);
        point.extend(part("y")?);
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
            .verify(message.as_bytes(), &signature)
    };
    held.map_err(|_| "the ID token's signature does not hold".to_string())?;
    serde_json::from_slice(&b64(body)?).map_err(|e| format!("the ID token's claims: {e}"))
}

/// The checks of OpenID Connect Core 3.1.3.7 that are not the signature's.
fn check_claims(c: &Value, sso: &SingleSignOn, nonce: &str, now: i64) -> Result<(), String> {
    if c["iss"].as_str().map(|i| i.trim_end_matches('/')) != Some(sso.issuer.as_str()) {
        return Err(format!(
            "the ID token's issuer is {}, not {}",
            c["iss"], sso.issuer
        ));
    }
    let audience = match &c["aud"] {
        Value::String(a) => a == &sso.client_id,
        Value::Array(a) => a.iter().any(|x| x == sso.client_id.as_str()),
        _ => false,
    };
    if !audience {
        return Err(format!(
            "the ID token is for {}, not for {}",
            c["aud"], sso.client_id
        ));
    }
    match c["exp"].as_i64() {
        Some(exp) if exp + SKEW > now => {}
        _ => return Err("the ID token has expired".into()),
    }
    if c["iat"].as_i64().is_some_and(|iat| iat > now + SKEW) {
        return Err("the ID token was issued in the future".into());
    }
    if c["nonce"].as_str() != Some(nonce) {
        return Err("the ID token's nonce is not this login's".into());
    }
    Ok(())
}

/// The role a login's groups give, by the document's mapping (the highest wins).
fn role_of(sso: &SingleSignOn, groups: &[String]) -> Option<Role> {
    sso.roles
        .iter()
        .filter(|(_, gs)| gs.iter().any(|g| groups.contains(g)))
        .map(|(r, _)| *r)
        .max()
}

/// `GET /login/oidc/callback?code&state`: the provider sent the browser back.
pub async fn callback(
    State(app): State<AppState>,
    client: Client,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(sso) = app.engine().catalog().sso.clone() else {
        return ApiError::not_found("single sign-on is not configured").into_response();
    };
    let pairs = form_pairs(query.unwrap_or_default().as_bytes());
    let field = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map_or("", |(_, v)| v.as_str())
            .to_string()
    };
    if !field("error").is_empty() {
        return page(
            StatusCode::UNAUTHORIZED,
            &format!(
                "the identity provider did not sign you in: {} {}",
                field("error"),
                field("error_description")
            ),
        );
    }
    let (code, state) = (field("code"), field("state"));
    let at = now();
    let theirs = crate::login::cookie(&headers, STATE_COOKIE);
    let pending = match theirs {
        Some(s) if !state.is_empty() && s == state => app.flows.take(&state, at),
        _ => None,
    };
    let Some(pending) = pending else {
        return page(
            StatusCode::BAD_REQUEST,
            "this sign-in was not started here, was used already or took too long; log in again",
        );
    };
    let redirect = redirect_uri(&app);
    let next = crate::login::safe_next(&pending.next).to_string();
    let (engine, details) = (app.engine(), client.details());
    let store = engine.store().clone();
    let agent = client.agent.clone();
    let users: Vec<(String, Option<String>)> = engine
        .catalog()
        .users
        .iter()
        .map(|u| (u.name.clone(), u.email.clone()))
        .collect();
    let result = blocking(move || {
        let who = identify(&sso, &redirect, &code, &pending);
        let role = who.as_ref().ok().and_then(|id| role_of(&sso, &id.groups));
        let who = who.and_then(|id| user_for(&sso, &id.claims, &users));
        let done = store.transact(move |tx| {
            let (user, failure) = match &who {
                Err(why) => (String::from("unknown"), Some(why.clone())),
                Ok(name) => (name.clone(), None),
            };
            let actor = format!("user:{user}");
            if let Some(why) = failure {
                let mut d = details.clone();
                d["after"] = serde_json::json!({ "error": why });
                tx.audit(
                    at,
                    &actor,
                    "login.failed",
                    &actor,
                    &serde_json::json!({ "from": d }).to_string(),
                )?;
                return Ok(Err(why));
            }
            let (_, secret) = tx.create_token(&NewToken {
                kind: TokenKind::Session,
                principal: user.clone(),
                name: agent,
                services: Vec::new(),
                created_by: format!("sso:{}", sso.name),
                at,
                expires_at: Some(at + crate::login::SESSION_ABSOLUTE),
                role,
            })?;
            let d = serde_json::json!({
                "from": details,
                "after": { "role": role.map(|r| r.as_str()), "via": sso.name },
            });
            tx.audit(at, &actor, "login.sso", &actor, &d.to_string())?;
            Ok(Ok(secret))
        })?;
        Ok(done)
    })
    .await;
    match result {
        Err(e) => e.into_response(),
        Ok(Err(why)) => {
            tracing::warn!("single sign-on refused: {why}");
            let message = if why.starts_with("no Steward user is") {
                format!("You signed in at the identity provider, but {why}: ask an admin of Steward to add you as a User.")
            } else {
                format!("The sign-in could not be checked: {why}")
            };
            page(StatusCode::FORBIDDEN, &message)
        }
        Ok(Ok(secret)) => {
            let mut r = crate::login::start_session(&app, &secret, &next);
            r.headers_mut().append(
                header::SET_COOKIE,
                crate::login::set_cookie(&app, STATE_COOKIE, "", "/login", 0),
            );
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    use serde_json::json;

    /// A P-256 key: the pair, and its public half as a JWK set.
    fn key() -> (EcdsaKeyPair, Value) {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let public = pair.public_key().as_ref();
        let jwks = json!({ "keys": [{
            "kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&public[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&public[33..65]),
        }]});
        (pair, jwks)
    }

    fn jwt(pair: &EcdsaKeyPair, header: Value, claims: Value) -> String {
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = pair
            .sign(&ring::rand::SystemRandom::new(), signed.as_bytes())
            .unwrap();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    fn sso() -> SingleSignOn {
        SingleSignOn {
            name: "idp".into(),
            display_name: None,
            issuer: "https://idp.example.com".into(),
            client_id: "steward".into(),
            client_secret: "x".repeat(20),
            user_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
            roles: vec![
                (Role::Admin, vec!["leads".into()]),
                (Role::Responder, vec!["sre".into()]),
            ],
        }
    }

    #[test]
    fn an_id_token_is_taken_only_with_a_signature_of_the_providers_key() {
        let (pair, jwks) = key();
        let claims = json!({ "sub": "1", "preferred_username": "ana" });
        let good = jwt(
            &pair,
            json!({ "alg": "ES256", "kid": "k1" }),
            claims.clone(),
        );
        assert_eq!(verify_jwt(&good, &jwks).unwrap(), claims);
        // The claims changed after signing.
        let parts: Vec<&str> = good.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD
                .encode(json!({ "sub": "1", "preferred_username": "admin" }).to_string()),
            parts[2]
        );
        assert_eq!(
            verify_jwt(&forged, &jwks).unwrap_err(),
            "the ID token's signature does not hold"
        );
        // Signed by another key; unsigned; an algorithm that is not taken.
        let (other, _) = key();
        let theirs = jwt(
            &other,
            json!({ "alg": "ES256", "kid": "k1" }),
            claims.clone(),
        );
        assert!(verify_jwt(&theirs, &jwks).is_err());
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(json!({ "alg": "none" }).to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        assert_eq!(
            verify_jwt(&none, &jwks).unwrap_err(),
            "the ID token is signed with `none`; RS256 and ES256 are taken"
        );
        let hs = jwt(&pair, json!({ "alg": "HS256" }), claims);
        assert!(verify_jwt(&hs, &jwks).unwrap_err().contains("`HS256`"));
        assert!(verify_jwt("not.a-jwt", &jwks).is_err());
    }

    #[test]
    fn an_id_token_must_be_the_issuers_for_this_client_current_and_of_this_login() {
        let s = sso();
        let good = json!({ "iss": "https://idp.example.com", "aud": ["steward", "x"], "exp": 2000, "iat": 1000, "nonce": "n1" });
        assert_eq!(check_claims(&good, &s, "n1", 1500), Ok(()));
        let with = |k: &str, v: Value| {
            let mut c = good.clone();
            c[k] = v;
            check_claims(&c, &s, "n1", 1500).unwrap_err()
        };
        assert!(with("iss", json!("https://evil.example.com")).contains("issuer"));
        assert!(with("aud", json!("another-client")).contains("not for steward"));
        assert_eq!(with("exp", json!(1400)), "the ID token has expired");
        assert_eq!(
            with("iat", json!(1700)),
            "the ID token was issued in the future"
        );
        assert_eq!(
            with("nonce", json!("n2")),
            "the ID token's nonce is not this login's"
        );
    }

    #[test]
    fn an_identity_names_a_user_by_its_name_or_by_a_verified_email_only() {
        let users = vec![
            ("ana".to_string(), Some("ana@corp.example".to_string())),
            ("bo".to_string(), None),
        ];
        let mut s = sso();
        let by = |s: &SingleSignOn, c: Value| user_for(s, &c, &users);
        assert_eq!(
            by(&s, json!({ "preferred_username": "ana" })),
            Ok("ana".into())
        );
        // A username that looks like a user's email names no one.
        assert_eq!(
            by(&s, json!({ "preferred_username": "ana@corp.example" })),
            Err("no Steward user is `ana@corp.example`".into())
        );
        assert!(by(&s, json!({ "sub": "1" }))
            .unwrap_err()
            .contains("no `preferred_username`"));
        s.user_claim = "email".into();
        assert_eq!(
            by(
                &s,
                json!({ "email": "ANA@corp.example", "email_verified": true })
            ),
            Ok("ana".into())
        );
        assert_eq!(
            by(&s, json!({ "email": "ana@corp.example" })),
            Err("the identity provider has not verified the email `ana@corp.example`".into())
        );
        assert!(by(&s, json!({ "email": "ana", "email_verified": true })).is_err());
    }

    #[test]
    fn the_highest_role_a_login_s_groups_map_to_wins() {
        let s = sso();
        let groups = |g: &[&str]| g.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(role_of(&s, &groups(&["sre", "leads"])), Some(Role::Admin));
        assert_eq!(role_of(&s, &groups(&["sre"])), Some(Role::Responder));
        assert_eq!(role_of(&s, &groups(&["sales"])), None);
    }
}

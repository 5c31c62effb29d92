//! `POST /api/v1/samples`: the batch is checked as a whole; nothing is stored unless every
//! sample is good, and 202 is sent only once the samples are durable.

use crate::error::ApiError;
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use serde_json::{json, Value};
use steward_engine::{body_hash, Committed, EngineError, IncomingSample, SampleIssue};
use steward_model::slo::Measurement;

/// The largest body taken: about 100,000 samples.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Ingest requests read and checked at the same time; more get a 503 to retry, so a flood of
/// large bodies cannot take all the memory.
pub const MAX_CONCURRENT_INGEST: usize = 32;

/// How long an ingest body may take to arrive.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The header a client sets to make a retried batch count once.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

pub async fn post_samples(
    State(app): State<AppState>,
    who: Option<axum::Extension<crate::access::Principal>>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let Ok(permit) = app.ingest_permits.clone().try_acquire_owned() else {
        return Err(ApiError::busy(format!(
            "{MAX_CONCURRENT_INGEST} ingest requests are being handled already; retry in a second"
        )));
    };
    let key = idempotency_key(&headers)?;
    // A body that trickles in must not hold its permit for ever.
    let read = tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY)).await;
    let bytes = match read {
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the body did not arrive within {}s; nothing was stored, send it again",
                    BODY_TIMEOUT.as_secs()
                ),
            ))
        }
        Ok(read) => read.map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "the body is larger than {} MiB; send the samples in smaller batches",
                    MAX_BODY / 1024 / 1024
                ),
            )
        })?,
    };
    let engine = app.engine().clone();
    // A sender's token posts for its own services' SLOs only.
    // A customer's user posts for its customer's services only.
    // (Another customer's SLOs are to it as if they did not exist.)
    let only = match who {
        Some(axum::Extension(crate::access::Principal::Sender { services, .. })) => Some(Only {
            services,
            hidden: false,
        }),
        Some(axum::Extension(p)) => p.scope().customer().map(|c| Only {
            services: engine
                .catalog()
                .services
                .iter()
                .filter(|s| s.customer.as_deref() == Some(c))
                .map(|s| s.name.clone())
                .collect(),
            hidden: true,
        }),
        None => None,
    };
    // Decoding, checking and storing block: they run off the async workers, holding the
    // permit even if the client goes away meanwhile.
    let committed = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        take_batch(&engine, &bytes, key, only.as_ref())
    })
    .await
    .map_err(|e| ApiError::internal(format!("ingest task failed: {e}")))??;
    let accepted = match committed {
        Committed::Stored { accepted } => accepted as u64,
        Committed::Repeated { accepted } => accepted,
    };
    let mut response = (
        StatusCode::ACCEPTED,
        axum::Json(json!({ "accepted": accepted })),
    )
        .into_response();
    if let Committed::Repeated { .. } = committed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// The `Idempotency-Key` header: printable ASCII, at most 255 characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "the Idempotency-Key header must be 1 to 255 printable ASCII characters, such as a UUID",
        )
    };
    let key = value.to_str().map_err(|_| bad())?;
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(bad());
    }
    Ok(Some(key.to_string()))
}

/// Parses, checks, stores and counts one batch.
fn take_batch(
    engine: &steward_engine::Engine,
    bytes: &[u8],
    key: Option<String>,
    only: Option<&Only>,
) -> Result<Committed, ApiError> {
    if !engine.takes_samples() {
        return Err(EngineError::Rebuilding.into());
    }
    let key = key.map(|k| (k, body_hash(bytes)));
    if let Some((k, hash)) = &key {
        if let Some(first) = engine.repeated(k, *hash)? {
            return Ok(first);
        }
    }
    let parsed = decode_samples(bytes)?;
    let now = jiff::Timestamp::now().as_second();
    // Every bad sample is reported: those that do not parse, and those the engine refuses.
    let mut indices = Vec::with_capacity(parsed.len());
    let mut samples = Vec::with_capacity(parsed.len());
    let mut issues = Vec::new();
    for (index, p) in parsed.into_iter().enumerate() {
        match p {
            Ok(s) => match only.map(|o| sendable(engine.catalog(), o, &s.slo)) {
                Some(Err(message)) => issues.push(SampleIssue { index, message }),
                _ => {
                    indices.push(index);
                    samples.push(s);
                }
            },
            Err(message) => issues.push(SampleIssue { index, message }),
        }
    }
    let received = indices.len() + issues.len();
    let checked = match engine.validate(&samples, now) {
        Ok(checked) => Some(checked),
        Err(found) => {
            issues.extend(found.into_iter().map(|i| SampleIssue {
                index: indices[i.index],
                ..i
            }));
            None
        }
    };
    let Some(checked) = checked.filter(|_| issues.is_empty()) else {
        issues.sort_by_key(|i| i.index);
        engine.metrics.samples_rejected.add(received as u64);
        return Err(invalid(issues));
    };
    match engine.commit(&checked, key, now) {
        Ok(committed) => Ok(committed),
        Err(EngineError::Invalid(found)) => Err(invalid(
            found
                .into_iter()
                .map(|i| SampleIssue {
                    index: indices[i.index],
                    ..i
                })
                .collect(),
        )),
        Err(e) => Err(e.into()),
    }
}

fn invalid(issues: Vec<SampleIssue>) -> ApiError {
    let n = issues.len();
    let details = issues
        .into_iter()
        .map(|i| json!({ "index": i.index, "message": i.message }))
        .collect();
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_samples",
        format!("{n} sample(s) are invalid; nothing was stored. Fix them and send the batch again"),
    )
    .with_details(details)
}

/// The services a caller may post samples for.
struct Only {
    services: Vec<String>,
    /// Whether the others' SLOs are answered as unknown (to a customer's user), rather than
    /// named (to a sender).
    hidden: bool,
}

/// Whether a caller limited to `only` may post for `slo` (an SLO's or an objective's name).
fn sendable(catalog: &steward_config::Catalog, only: &Only, slo: &str) -> Result<(), String> {
    let services = &only.services;
    // An objective's name, or an SLO document's (whose objectives are named `slo:x` when it
    // has more than one).
    let owner = catalog
        .slo(slo)
        .or_else(|| {
            catalog
                .objective_refs
                .iter()
                .find(|o| o.slo == slo)
                .and_then(|o| catalog.slo(&o.objective))
        })
        .map(|s| s.service.as_str());
    match owner {
        Some(service) if services.iter().any(|s| s == service) => Ok(()),
        Some(service) if !only.hidden => Err(format!(
            "SLO `{slo}` is of service `{service}`; this token posts samples for {} only",
            services.join(", ")
        )),
        _ => Err(format!("there is no SLO `{slo}`")),
    }
}

/// Decodes a `POST /api/v1/samples` body into samples; each sample decodes or says what is
/// wrong with it. A body that is not a batch at all is an error of its own.
pub fn decode_samples(bytes: &[u8]) -> Result<Vec<Result<IncomingSample, String>>, ApiError> {
    match decode_well_formed(bytes) {
        Some(samples) => Ok(samples.into_iter().map(Ok).collect()),
        None => decode_detailed(bytes),
    }
}

/// The detailed decoder alone, which explains every problem; the fuzz target checks that it
/// agrees with the fast path.
#[doc(hidden)]
pub fn decode_detailed(bytes: &[u8]) -> Result<Vec<Result<IncomingSample, String>>, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    let shape = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "expected {\"samples\":[{\"slo\":\"NAME\",\"good\":N,\"total\":N}, ...]}",
        )
    };
    let Value::Object(top) = value else {
        return Err(shape());
    };
    if let Some(key) = top.keys().find(|k| *k != "samples") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("unknown field `{key}`; the body has only `samples`"),
        ));
    }
    let Some(Value::Array(items)) = top.get("samples") else {
        return Err(shape());
    };
    Ok(items.iter().map(parse_sample).collect())
}

/// The fast path: a batch decoded straight into typed samples, strings borrowed from the
/// body. Anything unusual (an unknown or repeated field, a wrong type, a missing count, a bad
/// time, an array where an object belongs) returns `None`, and the detailed decoder says what
/// is wrong where.
#[doc(hidden)]
pub fn decode_well_formed(bytes: &[u8]) -> Option<Vec<IncomingSample>> {
    let fast::Batch(samples) = serde_json::from_slice(bytes).ok()?;
    Some(samples)
}

/// Map-only visitors: serde's derived structs would also take arrays.
mod fast {
    use serde::de::{Deserializer, Error, IgnoredAny, MapAccess, Visitor};
    use std::borrow::Cow;
    use std::fmt;
    use steward_engine::IncomingSample;
    use steward_model::slo::Measurement;

    pub struct Batch(pub Vec<IncomingSample>);

    impl<'de> serde::Deserialize<'de> for Batch {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Batch, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Batch;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a batch object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Batch, A::Error> {
                    let mut samples = None;
                    while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                        if key != "samples" || samples.is_some() {
                            return Err(A::Error::custom("not a plain batch"));
                        }
                        samples = Some(map.next_value::<Vec<Sample>>()?);
                    }
                    let samples = samples.ok_or_else(|| A::Error::custom("no samples"))?;
                    Ok(Batch(samples.into_iter().map(|s| s.0).collect()))
                }
            }
            d.deserialize_map(V)
        }
    }

    struct Sample(IncomingSample);

    impl<'de> serde::Deserialize<'de> for Sample {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Sample, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Sample;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a sample object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Sample, A::Error> {
                    let bad = || A::Error::custom("not a plain sample");
                    let (mut slo, mut time, mut good, mut total, mut value) =
                        (None, None, None, None, None);
                    while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                        match key.as_ref() {
                            "slo" if slo.is_none() => {
                                slo = Some(map.next_value::<Cow<'de, str>>()?)
                            }
                            "time" if time.is_none() => {
                                time = Some(map.next_value::<Option<Cow<'de, str>>>()?)
                            }
                            "good" if good.is_none() => good = Some(map.next_value::<u64>()?),
                            "total" if total.is_none() => total = Some(map.next_value::<u64>()?),
                            "value" if value.is_none() => value = Some(map.next_value::<f64>()?),
                            _ => {
                                let _ = map.next_value::<IgnoredAny>();
                                return Err(bad());
                            }
                        }
                    }
                    let slo = slo.filter(|s| !s.is_empty()).ok_or_else(bad)?;
                    let time = match time.flatten() {
                        None => None,
                        Some(t) => {
                            Some(t.parse::<jiff::Timestamp>().map_err(|_| bad())?.as_second())
                        }
                    };
                    let measurement = match (good, total, value) {
                        (Some(good), Some(total), None) => Measurement::Events { good, total },
                        (None, None, Some(v)) if v.is_finite() => Measurement::Value(v),
                        _ => return Err(bad()),
                    };
                    Ok(Sample(IncomingSample {
                        slo: slo.into_owned(),
                        time,
                        measurement,
                    }))
                }
            }
            d.deserialize_map(V)
        }
    }
}

fn parse_sample(item: &Value) -> Result<IncomingSample, String> {
    let Value::Object(fields) = item else {
        return Err(
            "a sample must be an object like {\"slo\":\"NAME\",\"good\":N,\"total\":N}".into(),
        );
    };
    const KNOWN: [&str; 5] = ["slo", "time", "good", "total", "value"];
    if let Some(key) = fields.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(format!(
            "unknown field `{key}`; a sample has slo, time, and good/total or value"
        ));
    }
    let slo = match fields.get("slo") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err("`slo` must be a non-empty string".into()),
        None => return Err("`slo` is missing".into()),
    };
    let time = match fields.get("time") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(
            t.parse::<jiff::Timestamp>()
                .map_err(|_| {
                    format!("`time` {t:?} is not an RFC 3339 time such as 2026-11-21T10:00:00Z")
                })?
                .as_second(),
        ),
        Some(_) => return Err("`time` must be an RFC 3339 string".into()),
    };
    let measurement = match (fields.get("good"), fields.get("total"), fields.get("value")) {
        (Some(g), Some(t), None) => Measurement::Events {
            good: count(g, "good")?,
            total: count(t, "total")?,
        },
        (None, None, Some(v)) => Measurement::Value(
            v.as_f64()
                .filter(|v| v.is_finite())
                .ok_or("`value` must be a finite number")?,
        ),
        (None, None, None) => {
            return Err("give `good` and `total` (a ratio SLI) or `value` (a threshold SLI)".into())
        }
        (_, _, Some(_)) => return Err("give either `value` or `good` and `total`, not both".into()),
        (Some(_), None, None) => return Err("`total` is missing".into()),
        (None, Some(_), None) => return Err("`good` is missing".into()),
    };
    Ok(IncomingSample {
        slo,
        time,
        measurement,
    })
}

fn count(v: &Value, name: &str) -> Result<u64, String> {
    v.as_u64()
        .ok_or_else(|| format!("`{name}` must be a whole number of events (0 or more), found {v}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path takes only what the detailed decoder takes, and decodes it the same.
    #[test]
    fn the_fast_path_agrees_with_the_detailed_decoder() {
        let cases = [
            r#"{"samples":[{"slo":"a","good":1,"total":2},{"slo":"b","time":"2026-11-21T10:00:00Z","value":3.5}]}"#,
            r#"{"samples":[{"slo":"a","good":1,"total":2,"time":null}]}"#,
            r#"{"samples":[]}"#,
            r#"{"samples":[{"slo":"a","good":1}]}"#,
            r#"{"samples":[{"slo":"a","good":1.0,"total":2}]}"#,
            r#"{"samples":[{"slo":"","good":1,"total":2}]}"#,
            r#"{"samples":[{"slo":"a","value":1,"good":1,"total":1}]}"#,
            r#"{"samples":[{"slo":"a","time":"yesterday","good":1,"total":1}]}"#,
            r#"{"samples":[{"slo":"a","good":1,"total":1,"x":0}]}"#,
            r#"{"samples":[{"slo":"a","slo":"b","good":1,"total":1}]}"#,
            r#"{"samples":[{"slo":"a\u00e9","value":-0.0}]}"#,
            r#"{"samples":[{"slo":"a","value":1e400}]}"#,
            r#"{"samples":{}}"#,
            r#"[]"#,
            r#"[[]]"#,
            r#"{"samples":[["a",null,1,2,null]]}"#,
        ];
        for case in cases {
            let detailed = decode_detailed(case.as_bytes()).map_err(|e| e.message);
            match decode_well_formed(case.as_bytes()) {
                Some(fast) => assert_eq!(
                    detailed,
                    Ok(fast.into_iter().map(Ok).collect::<Vec<_>>()),
                    "{case}"
                ),
                None => assert!(
                    !matches!(&detailed, Ok(all) if all.iter().all(Result::is_ok))
                        || case.contains("slo\":\"a\",\"slo"),
                    "the fast path refused a batch the detailed decoder takes: {case}"
                ),
            }
        }
    }
}

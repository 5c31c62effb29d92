//! The channels a notification travels by. Each is a [`Notifier`]: how one notification is
//! written (when it is queued, so every attempt sends the same bytes), how several to one
//! destination become one body, and how that body is sent. The outbox knows only the trait;
//! HTTP, JSON shapes and SMTP live here.

use serde_json::{json, Value};
use std::time::Duration;
use steward_model::catalog::Channel;
use steward_model::matcher::Labels;
use steward_store::{Alert, Message};

use super::notify::{DeliveryOptions, SmtpOptions};

/// How one attempt went.
#[derive(Debug)]
pub enum Attempt {
    Delivered,
    /// Worth trying again (5xx, 429, timeout, connection refused), after at least this long.
    Transient(String, Option<Duration>),
    /// The receiver refused it (another 4xx), or it cannot be sent: no retry helps.
    Refused(String),
}

/// One channel's way of writing and sending notifications.
pub trait Notifier: Send + Sync {
    /// The body of one notification.
    fn render(&self, n: &Notice<'_>) -> String;

    /// One body for notifications to one destination (`batch` has at least two).
    fn combine(&self, batch: &[Message]) -> String;

    /// The most bytes of notifications one delivery carries, when it carries each whole.
    fn max_batch_bytes(&self) -> Option<usize> {
        None
    }

    /// One attempt to deliver `m`, whose payload is the body to send.
    fn send(&self, m: &Message) -> Attempt;

    /// What a body says to the person who reads it: a message's text, a card's text
    /// blocks, an email's body.
    fn text(&self, payload: &str) -> String {
        let v: Value = serde_json::from_str(payload).unwrap_or_default();
        v["text"].as_str().unwrap_or(payload).to_string()
    }
}

/// The notifier of every channel.
pub struct Notifiers {
    webhook: Webhook,
    slack: Slack,
    teams: Teams,
    email: Email,
}

impl Notifiers {
    pub fn new(options: &DeliveryOptions) -> Notifiers {
        let post = Post::new(options);
        Notifiers {
            webhook: Webhook(post.clone()),
            slack: Slack(post.clone()),
            teams: Teams(post),
            email: Email::new(options.smtp.as_ref(), options.timeout),
        }
    }

    pub fn of(&self, channel: Channel) -> &dyn Notifier {
        match channel {
            Channel::Webhook => &self.webhook,
            Channel::Slack => &self.slack,
            Channel::Teams => &self.teams,
            Channel::Email => &self.email,
        }
    }
}

/// One body for a batch: the message itself when alone, else the channel's combination.
pub fn combine(notifier: &dyn Notifier, batch: &[Message]) -> String {
    match batch {
        [one] => one.payload.clone(),
        _ => notifier.combine(batch),
    }
}

/// Checks an SMTP relay URL and sender address, for the command line to refuse bad ones.
pub fn check_smtp(o: &SmtpOptions) -> Result<(), String> {
    lettre::SmtpTransport::from_url(&o.url)
        .map_err(|e| format!("the SMTP URL is not usable ({e}); write smtp://HOST:PORT or smtps://USER:PASSWORD@HOST"))?;
    o.from.parse::<lettre::message::Mailbox>().map_err(|e| {
        format!(
            "the sender address `{}` is not an email address: {e}",
            o.from
        )
    })?;
    Ok(())
}

/// What a notification says, for a tired person: what burns, since when, how fast, budget
/// left, whose service it is, who else is paged, and where to acknowledge.
pub struct Notice<'a> {
    pub alert: &'a Alert,
    pub labels: &'a Labels,
    pub owner: Option<String>,
    pub paged: &'a [String],
    pub step: usize,
    pub round: i64,
    pub policy: &'a str,
    pub public_url: &'a str,
    /// The runbook that answers the alert.
    pub runbook: Option<&'a str>,
}

fn rfc3339(t: i64) -> String {
    jiff::Timestamp::from_second(t).map_or_else(|_| t.to_string(), |ts| ts.to_string())
}

impl Notice<'_> {
    fn alert_url(&self) -> String {
        format!(
            "{}/alerts/{}",
            self.public_url.trim_end_matches('/'),
            self.alert.id
        )
    }

    /// People acknowledge on the alert's page (a button: a link that acknowledged on GET
    /// would be clicked by every chat link-preview bot); programs POST to the API.
    fn ack_url(&self) -> String {
        self.alert_url()
    }

    fn runbook_url(&self) -> Option<String> {
        self.runbook
            .map(|r| format!("{}/runbooks/{r}", self.public_url.trim_end_matches('/')))
    }

    fn ack_api(&self) -> String {
        format!(
            "{}/api/v1/alerts/{}/ack",
            self.public_url.trim_end_matches('/'),
            self.alert.id
        )
    }

    fn details(&self) -> Value {
        serde_json::from_str(&self.alert.details).unwrap_or(Value::Null)
    }

    /// The lines of a chat message.
    fn lines(&self) -> Vec<String> {
        let a = self.alert;
        let d = self.details();
        let mut lines = vec![format!("[{}] {}", a.severity.to_uppercase(), a.summary)];
        lines.push(format!(
            "Service: {}{}",
            a.service.as_deref().unwrap_or("(none)"),
            self.owner
                .as_deref()
                .map(|o| format!(" (owner: {o})"))
                .unwrap_or_default()
        ));
        lines.push(format!("Since: {}", rfc3339(a.opened_at)));
        if let (Some(l), Some(s)) = (d["long_burn_rate"].as_f64(), d["short_burn_rate"].as_f64()) {
            lines.push(format!(
                "Burn rate: {l:.1}x over {}, {s:.1}x over {} (threshold {:.1}x)",
                d["long_window"].as_str().unwrap_or("?"),
                d["short_window"].as_str().unwrap_or("?"),
                d["threshold"].as_f64().unwrap_or(0.0)
            ));
        }
        if let Some(b) = d["budget_remaining"].as_f64() {
            lines.push(format!("Error budget left: {:.1}%", b * 100.0));
        }
        if let (Some(r), Some(url)) = (self.runbook, self.runbook_url()) {
            lines.push(format!("Runbook: {r} {url}"));
        }
        lines.push(format!(
            "Paged now: {}",
            if self.paged.is_empty() {
                "nobody else".to_string()
            } else {
                self.paged.join(", ")
            }
        ));
        lines
    }
}

/// The most one webhook delivery carries, in bytes of its notifications: the body, with each
/// one's text again, stays under a megabyte (receivers refuse large bodies, and a refusal
/// would dead-letter the whole batch).
const MAX_WEBHOOK_PAYLOADS: usize = 512 << 10;

/// Notifications a chat message, card or email of a batch shows in full.
const SHOWN: usize = 20;

/// What a batch's chat message, card or email says first, and last when some are not shown.
fn head_and_tail(batch: &[Message]) -> (String, String) {
    let head = format!("{} alerts", batch.len());
    // People read the first few; programs (webhooks) get every one.
    let more = batch.len().saturating_sub(SHOWN);
    let tail = if more > 0 {
        format!("\n\n… and {more} more: the console lists them all")
    } else {
        String::new()
    };
    (head, tail)
}

fn parsed(batch: &[Message]) -> Vec<Value> {
    batch
        .iter()
        .map(|m| serde_json::from_str(&m.payload).unwrap_or(Value::Null))
        .collect()
}

/// A JSON document for programs: every notification whole.
struct Webhook(Post);

impl Notifier for Webhook {
    fn render(&self, n: &Notice<'_>) -> String {
        let a = n.alert;
        json!({
            "event": "alert.notify",
            "alert": {
                "id": a.id,
                "status": a.status.as_str(),
                "source": a.source,
                "dedup_key": a.dedup_key,
                "service": a.service,
                "customer": a.customer,
                "severity": a.severity,
                "summary": a.summary,
                "labels": n.labels,
                "details": n.details(),
                "opened_at": rfc3339(a.opened_at),
            },
            "service_owner": n.owner,
            "escalation": { "policy": n.policy, "step": n.step + 1, "round": n.round + 1 },
            "paged": n.paged,
            "links": { "alert": n.alert_url(), "acknowledge": n.ack_api(), "acknowledge_page": n.ack_url(), "runbook": n.runbook_url() },
            "text": n.lines().join("\n"),
        })
        .to_string()
    }

    fn combine(&self, batch: &[Message]) -> String {
        let parsed = parsed(batch);
        let (head, _) = head_and_tail(batch);
        let texts: Vec<&str> = parsed.iter().filter_map(|p| p["text"].as_str()).collect();
        json!({
            "event": "alert.notify.group",
            "count": batch.len(),
            "notifications": parsed,
            "text": format!("{head}\n\n{}", texts.join("\n\n")),
        })
        .to_string()
    }

    fn max_batch_bytes(&self) -> Option<usize> {
        Some(MAX_WEBHOOK_PAYLOADS)
    }

    fn send(&self, m: &Message) -> Attempt {
        self.0.send(m)
    }
}

/// A Slack incoming webhook's message: the lines, and links to open and acknowledge.
struct Slack(Post);

impl Notifier for Slack {
    fn render(&self, n: &Notice<'_>) -> String {
        let text = format!(
            "{}\n<{}|Open alert {}> · <{}|Acknowledge>",
            n.lines().join("\n"),
            n.alert_url(),
            n.alert.id,
            n.ack_url()
        );
        json!({ "text": text }).to_string()
    }

    fn combine(&self, batch: &[Message]) -> String {
        let parsed = parsed(batch);
        let (head, tail) = head_and_tail(batch);
        let texts: Vec<&str> = parsed
            .iter()
            .take(SHOWN)
            .filter_map(|p| p["text"].as_str())
            .collect();
        json!({ "text": format!("{head}\n\n{}{tail}", texts.join("\n\n")) }).to_string()
    }

    fn send(&self, m: &Message) -> Attempt {
        self.0.send(m)
    }
}

/// A Microsoft Teams Adaptive Card.
struct Teams(Post);

fn card(body: Vec<Value>, actions: Vec<Value>) -> String {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": actions,
            }
        }]
    })
    .to_string()
}

impl Notifier for Teams {
    fn render(&self, n: &Notice<'_>) -> String {
        let body: Vec<Value> = n
            .lines()
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                let mut block = json!({ "type": "TextBlock", "text": l, "wrap": true });
                if i == 0 {
                    block["weight"] = json!("Bolder");
                    block["size"] = json!("Medium");
                }
                block
            })
            .collect();
        card(
            body,
            vec![
                json!({ "type": "Action.OpenUrl", "title": "Open alert", "url": n.alert_url() }),
                json!({ "type": "Action.OpenUrl", "title": "Open to acknowledge", "url": n.ack_url() }),
            ],
        )
    }

    fn combine(&self, batch: &[Message]) -> String {
        let (head, tail) = head_and_tail(batch);
        let mut body =
            vec![json!({ "type": "TextBlock", "text": head, "weight": "Bolder", "size": "Large" })];
        let mut actions = Vec::new();
        for p in parsed(batch).iter().take(SHOWN) {
            let card = &p["attachments"][0]["content"];
            body.extend(card["body"].as_array().cloned().unwrap_or_default());
            if let Some(a) = card["actions"].as_array().and_then(|a| a.first()) {
                actions.push(a.clone());
            }
        }
        if !tail.is_empty() {
            body.push(json!({ "type": "TextBlock", "text": tail.trim(), "wrap": true }));
        }
        actions.truncate(5);
        card(body, actions)
    }

    fn text(&self, payload: &str) -> String {
        let v: Value = serde_json::from_str(payload).unwrap_or_default();
        let blocks: Vec<&str> = v["attachments"][0]["content"]["body"]
            .as_array()
            .map(|b| b.iter().filter_map(|x| x["text"].as_str()).collect())
            .unwrap_or_default();
        if blocks.is_empty() {
            payload.to_string()
        } else {
            blocks.join("\n")
        }
    }

    fn send(&self, m: &Message) -> Attempt {
        self.0.send(m)
    }
}

/// A plain-text email: `Subject: ...`, a blank line, the body.
struct Email {
    /// The SMTP relay and the sender, when email is configured.
    mailer: Option<(lettre::SmtpTransport, lettre::message::Mailbox)>,
}

impl Email {
    fn new(smtp: Option<&SmtpOptions>, timeout: Duration) -> Email {
        let mailer = smtp.and_then(|o| {
            let transport =
                lettre::SmtpTransport::from_url(&o.url).map(|b| b.timeout(Some(timeout)).build());
            match (transport, o.from.parse()) {
                (Ok(t), Ok(from)) => Some((t, from)),
                _ => {
                    tracing::error!(
                        "the SMTP settings are not usable; email notifications will fail"
                    );
                    None
                }
            }
        });
        Email { mailer }
    }
}

impl Notifier for Email {
    fn render(&self, n: &Notice<'_>) -> String {
        let a = n.alert;
        format!(
            "Subject: [{}] {}\n\n{}\n\nOpen the alert: {}\nAcknowledge: {}\n",
            a.severity.to_uppercase().replace(['\r', '\n'], " "),
            a.summary.replace(['\r', '\n'], " "),
            n.lines().join("\n"),
            n.alert_url(),
            n.ack_url()
        )
    }

    fn combine(&self, batch: &[Message]) -> String {
        let (head, tail) = head_and_tail(batch);
        let bodies: Vec<&str> = batch
            .iter()
            .take(SHOWN)
            .map(|m| {
                m.payload
                    .split_once("\n\n")
                    .map_or(m.payload.as_str(), |(_, b)| b)
            })
            .collect();
        format!(
            "Subject: [Steward] {head}\n\n{}{tail}",
            bodies.join("\n----\n\n")
        )
    }

    fn text(&self, payload: &str) -> String {
        payload.to_string()
    }

    /// Sends through the SMTP relay; the Message-ID carries the idempotency key, the same
    /// on every attempt.
    fn send(&self, m: &Message) -> Attempt {
        use lettre::Transport;
        let Some((mailer, from)) = &self.mailer else {
            return Attempt::Refused(format!(
                "email to {} cannot be sent: this Steward has no SMTP relay (serve --smtp-url and --smtp-from)",
                m.destination
            ));
        };
        let to = match m.destination.parse::<lettre::message::Mailbox>() {
            Ok(to) => to,
            Err(e) => {
                return Attempt::Refused(format!(
                    "`{}` is not an email address: {e}",
                    m.destination
                ))
            }
        };
        let (head, body) = m
            .payload
            .split_once("\n\n")
            .unwrap_or(("", m.payload.as_str()));
        let subject = head
            .strip_prefix("Subject: ")
            .unwrap_or("Steward notification");
        let message = lettre::Message::builder()
            .from(from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{}@steward>", m.idempotency_key)))
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(body.to_string());
        let message = match message {
            Ok(msg) => msg,
            Err(e) => return Attempt::Refused(format!("the email cannot be built: {e}")),
        };
        match mailer.send(&message) {
            Ok(_) => Attempt::Delivered,
            Err(e) if e.is_permanent() => {
                Attempt::Refused(format!("the SMTP relay refused it: {e}"))
            }
            Err(e) => Attempt::Transient(format!("SMTP: {e}"), None),
        }
    }
}

/// A POST of a JSON body to the destination URL, signed when a key is set, with the
/// idempotency key in a header.
#[derive(Clone)]
struct Post {
    agent: ureq::Agent,
    signing_key: Option<Vec<u8>>,
    timeout: Duration,
}

impl Post {
    fn new(options: &DeliveryOptions) -> Post {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(options.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent("steward")
            .build()
            .into();
        Post {
            agent,
            signing_key: options.signing_key.clone(),
            timeout: options.timeout,
        }
    }

    fn send(&self, m: &Message) -> Attempt {
        let now = jiff::Timestamp::now().as_second();
        let mut req = self
            .agent
            .post(&m.destination)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", &m.idempotency_key)
            .header("X-Steward-Timestamp", &now.to_string());
        if let Some(key) = &self.signing_key {
            req = req.header(
                "X-Steward-Signature",
                &format!("v1={}", sign(key, now, m.payload.as_bytes())),
            );
        }
        match req.send(m.payload.as_bytes()) {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s.min(3600)));
                match status {
                    200..=299 => Attempt::Delivered,
                    408 | 429 | 500..=599 => {
                        Attempt::Transient(format!("HTTP {status}"), retry_after)
                    }
                    _ => Attempt::Refused(format!(
                        "HTTP {status}: the receiver refused the notification"
                    )),
                }
            }
            Err(ureq::Error::Timeout(_)) => Attempt::Transient(
                format!("no answer within {}s", self.timeout.as_secs()),
                None,
            ),
            Err(e @ (ureq::Error::BadUri(_) | ureq::Error::InvalidProxyUrl)) => {
                Attempt::Refused(format!("the destination cannot be used: {e}"))
            }
            Err(e) => Attempt::Transient(e.to_string(), None),
        }
    }
}

/// HMAC-SHA256 of `timestamp.body`, hex: what `X-Steward-Signature: v1=...` carries, so a
/// receiver can check both the body and that it is fresh.
pub fn sign(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn signatures_are_hmac_sha256_of_timestamp_dot_body() {
        // The same as: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac key
        assert_eq!(
            super::sign(b"key", 1_700_000_000, br#"{"a":1}"#),
            "a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"
        );
    }
}

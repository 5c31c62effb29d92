//! Notifications: rendered when queued (so every attempt sends the same bytes), delivered
//! from the outbox at least once, with the same idempotency key on every attempt.
//!
//! Each destination has at most one delivery in flight, and deliveries run on threads of
//! their own, so a receiver that hangs holds up only its own messages. A 5xx, a 429 or a
//! timeout is retried with exponential back-off and jitter until the message's give-up time;
//! then, or at once for a refusal (another 4xx), it becomes a dead letter, which the API lists
//! and can send again.

use crate::metrics::Metrics;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use steward_model::matcher::Labels;
use steward_store::{Alert, Message, Store, StoreError};

/// How deliveries are made.
#[derive(Clone)]
pub struct DeliveryOptions {
    /// One attempt may take this long (connect, send, answer).
    pub timeout: Duration,
    /// The first retry waits about this long; each next one twice as long, up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// A message not delivered this many seconds after it was queued becomes a dead letter.
    pub give_up_after: i64,
    /// Messages a minute to one destination at most; the rest wait.
    pub per_destination_per_minute: u32,
    /// Webhook bodies are signed with HMAC-SHA256 under this key.
    pub signing_key: Option<Vec<u8>>,
    /// Deliveries in flight at most.
    pub max_in_flight: usize,
    /// Where email goes: an `smtp://` or `smtps://` URL (user and password in it, if the
    /// relay wants them) and the sender's address. Without it, email notifications become
    /// dead letters that say so.
    pub smtp: Option<SmtpOptions>,
}

#[derive(Clone)]
pub struct SmtpOptions {
    pub url: String,
    pub from: String,
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

impl std::fmt::Debug for DeliveryOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryOptions")
            .field("timeout", &self.timeout)
            .field("retry_base", &self.retry_base)
            .field("retry_max", &self.retry_max)
            .field("give_up_after", &self.give_up_after)
            .field(
                "per_destination_per_minute",
                &self.per_destination_per_minute,
            )
            .field(
                "signing_key",
                &self.signing_key.as_ref().map(|_| "<redacted>"),
            )
            .field("smtp", &self.smtp.as_ref().map(|s| &s.from))
            .finish()
    }
}

impl Default for DeliveryOptions {
    fn default() -> DeliveryOptions {
        DeliveryOptions {
            timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(600),
            give_up_after: 3600,
            per_destination_per_minute: 60,
            signing_key: None,
            max_in_flight: 64,
            smtp: None,
        }
    }
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

/// The body a channel sends.
pub fn render(channel: &str, n: &Notice<'_>) -> String {
    let a = n.alert;
    match channel {
        "slack" => {
            let text = format!(
                "{}\n<{}|Open alert {}> · <{}|Acknowledge>",
                n.lines().join("\n"),
                n.alert_url(),
                a.id,
                n.ack_url()
            );
            json!({ "text": text }).to_string()
        }
        "teams" => {
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
                        "actions": [
                            { "type": "Action.OpenUrl", "title": "Open alert", "url": n.alert_url() },
                            { "type": "Action.OpenUrl", "title": "Open to acknowledge", "url": n.ack_url() }
                        ]
                    }
                }]
            })
            .to_string()
        }
        "email" => format!(
            "Subject: [{}] {}\n\n{}\n\nOpen the alert: {}\nAcknowledge: {}\n",
            a.severity.to_uppercase().replace(['\r', '\n'], " "),
            a.summary.replace(['\r', '\n'], " "),
            n.lines().join("\n"),
            n.alert_url(),
            n.ack_url()
        ),
        _ => json!({
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
        .to_string(),
    }
}

/// Whether an alert still needs someone: open, unacknowledged, a page, and nothing holds it
/// back (a notification queued before a silence, a dependency's page or a lowering to a
/// ticket is not sent).
fn still_pages(a: &steward_store::Alert) -> bool {
    a.status == steward_store::AlertStatus::Triggered
        && a.suppressed.is_none()
        && a.urgency == steward_model::Severity::Page
}

/// The most one webhook delivery carries, in bytes of its notifications: the body, with each
/// one's text again, stays under a megabyte (receivers refuse large bodies, and a refusal
/// would dead-letter the whole batch).
const MAX_WEBHOOK_PAYLOADS: usize = 512 << 10;

/// Notifications a chat message, card or email of a batch shows in full.
const SHOWN: usize = 20;

/// One body for a batch of notifications to one destination: the message itself when alone;
/// otherwise every message's text in one chat message or card, or a JSON webhook body that
/// lists every notification.
pub fn combine(channel: &str, batch: &[Message]) -> String {
    if let [one] = batch {
        return one.payload.clone();
    }
    let parsed: Vec<Value> = batch
        .iter()
        .map(|m| serde_json::from_str(&m.payload).unwrap_or(Value::Null))
        .collect();
    let head = format!("{} alerts", batch.len());
    // People read the first few; programs (webhooks) get every one.
    let more = batch.len().saturating_sub(SHOWN);
    let tail = if more > 0 {
        format!("\n\n… and {more} more: the console lists them all")
    } else {
        String::new()
    };
    match channel {
        "slack" => {
            let texts: Vec<&str> = parsed
                .iter()
                .take(SHOWN)
                .filter_map(|p| p["text"].as_str())
                .collect();
            json!({ "text": format!("{head}\n\n{}{tail}", texts.join("\n\n")) }).to_string()
        }
        "teams" => {
            let mut body = vec![
                json!({ "type": "TextBlock", "text": head, "weight": "Bolder", "size": "Large" }),
            ];
            let mut actions = Vec::new();
            for p in parsed.iter().take(SHOWN) {
                let card = &p["attachments"][0]["content"];
                body.extend(card["body"].as_array().cloned().unwrap_or_default());
                if let Some(a) = card["actions"].as_array().and_then(|a| a.first()) {
                    actions.push(a.clone());
                }
            }
            if more > 0 {
                body.push(json!({ "type": "TextBlock", "text": tail.trim(), "wrap": true }));
            }
            actions.truncate(5);
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
        "email" => {
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
        _ => {
            let texts: Vec<&str> = parsed.iter().filter_map(|p| p["text"].as_str()).collect();
            json!({
                "event": "alert.notify.group",
                "count": batch.len(),
                "notifications": parsed,
                "text": format!("{head}\n\n{}", texts.join("\n\n")),
            })
            .to_string()
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

/// How one attempt went.
#[derive(Debug)]
enum Attempt {
    Delivered,
    /// Worth trying again (5xx, 429, timeout, connection refused), after at least this long.
    Transient(String, Option<Duration>),
    /// The receiver refused it (another 4xx), or it cannot be sent: no retry helps.
    Refused(String),
}

/// The outbox worker and its deliveries.
pub struct Outbox {
    store: Store,
    options: DeliveryOptions,
    metrics: Arc<Metrics>,
    agent: ureq::Agent,
    /// The SMTP relay and the sender, when email is configured.
    mailer: Option<(lettre::SmtpTransport, lettre::message::Mailbox)>,
    woken: Mutex<bool>,
    bell: Condvar,
    /// Destinations with a delivery in flight.
    in_flight: Mutex<HashSet<String>>,
    /// Messages sent to each destination in the current minute.
    sent: Mutex<HashMap<String, (i64, u32)>>,
}

impl Outbox {
    pub fn new(store: Store, options: DeliveryOptions, metrics: Arc<Metrics>) -> Outbox {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(options.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent("steward")
            .build()
            .into();
        let mailer = options.smtp.as_ref().and_then(|o| {
            let transport = lettre::SmtpTransport::from_url(&o.url)
                .map(|b| b.timeout(Some(options.timeout)).build());
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
        Outbox {
            mailer,
            store,
            options,
            metrics,
            agent,
            woken: Mutex::new(false),
            bell: Condvar::new(),
            in_flight: Mutex::default(),
            sent: Mutex::default(),
        }
    }

    pub fn wake(&self) {
        *crate::lock(&self.woken) = true;
        self.bell.notify_all();
    }

    /// Waits up to `d` for a wake-up.
    fn sleep(&self, d: Duration) {
        let mut woken = crate::lock(&self.woken);
        if !*woken {
            woken = self
                .bell
                .wait_timeout(woken, d)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        *woken = false;
    }

    pub fn spawn(self: &Arc<Self>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
        let me = self.clone();
        crate::supervise("outbox", self.metrics.clone(), stop, move || {
            let now = jiff::Timestamp::now().as_second();
            if let Err(e) = me.dispatch(now) {
                tracing::error!(error = %e, "cannot read the outbox; retrying in a second");
            }
            me.sleep(Duration::from_secs(1));
            Duration::ZERO
        })
    }

    /// Starts a delivery for every due message whose destination is free and not
    /// throttled.
    pub fn dispatch(self: &Arc<Self>, now: i64) -> Result<(), StoreError> {
        let due = self.store.transact(move |tx| tx.due_messages(now, 512))?;
        for m in due {
            {
                let mut in_flight = crate::lock(&self.in_flight);
                if in_flight.len() >= self.options.max_in_flight {
                    break;
                }
                if in_flight.contains(&m.destination) {
                    continue;
                }
                // Throttled: only attempts count (a dispatch may find nothing left to send).
                if self.sent_this_minute(&m.destination, now)
                    >= self.options.per_destination_per_minute
                {
                    continue;
                }
                in_flight.insert(m.destination.clone());
            }
            let me = self.clone();
            let spawned = std::thread::Builder::new()
                .name("deliver".into())
                .spawn(move || {
                    let dest = m.destination.clone();
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        me.deliver_batch(m)
                    }));
                    crate::lock(&me.in_flight).remove(&dest);
                    match result {
                        Ok(Err(e)) => tracing::error!(error = %e, destination = %dest, "cannot record a delivery; it will be tried again"),
                        Err(_) => tracing::error!(destination = %dest, "a delivery panicked; it will be tried again"),
                        Ok(Ok(())) => {}
                    }
                    me.wake();
                });
            if spawned.is_err() {
                tracing::error!("cannot start a delivery thread; retrying in a second");
                break;
            }
        }
        Ok(())
    }

    /// Attempts made to a destination in the current minute.
    fn sent_this_minute(&self, destination: &str, now: i64) -> u32 {
        match crate::lock(&self.sent).get(destination) {
            Some(&(minute, n)) if minute == now.div_euclid(60) => n,
            _ => 0,
        }
    }

    /// Counts an attempt against the destination's throttle.
    fn count_attempt(&self, destination: &str) {
        let minute = jiff::Timestamp::now().as_second().div_euclid(60);
        let mut sent = crate::lock(&self.sent);
        let count = sent.entry(destination.to_string()).or_insert((minute, 0));
        if count.0 != minute {
            *count = (minute, 0);
        }
        count.1 += 1;
    }

    /// Gathers the leader's group into one delivery, leaving out notifications whose alert
    /// no longer needs anyone, and delivers it.
    fn deliver_batch(&self, leader: Message) -> Result<(), StoreError> {
        let id = leader.id;
        let now = jiff::Timestamp::now().as_second();
        let batch = self.store.transact(move |tx| {
            // The leader as it is now: the dispatcher's copy may be older than a delivery
            // that finished meanwhile.
            let Some(l) = tx.message(id)? else {
                return Ok(Vec::new());
            };
            let leads = l.batch.is_none_or(|b| b == l.id);
            if l.status != steward_store::MessageStatus::Pending
                || !leads
                || l.next_attempt_at > now
            {
                return Ok(Vec::new());
            }
            // Membership is settled once, before the first attempt: every retry sends the
            // same notifications under the same key.
            if l.attempts > 0 || l.batch.is_some() {
                let members: Vec<Message> = tx
                    .batch(l.id)?
                    .into_iter()
                    .filter(|m| m.status == steward_store::MessageStatus::Pending)
                    .collect();
                // A retry for alerts someone took care of meanwhile is not sent: nobody
                // needs it any more. Otherwise the same batch goes again, byte for byte.
                let mut needed = false;
                for m in &members {
                    needed |= match m.alert {
                        Some(a) => tx.alert(a)?.is_some_and(|a| still_pages(&a)),
                        None => true,
                    };
                }
                if !needed {
                    for m in &members {
                        tx.skip(m.id)?;
                    }
                    return Ok(Vec::new());
                }
                return Ok(members);
            }
            let mut keep = Vec::new();
            for m in tx.claim_batch(&l)? {
                // A notification of an alert someone took care of before it was first sent
                // is not sent.
                let wanted = match m.alert {
                    Some(a) => tx.alert(a)?.is_some_and(|a| still_pages(&a)),
                    None => true,
                };
                if wanted {
                    keep.push(m);
                } else {
                    tx.skip(m.id)?;
                }
            }
            // A webhook delivery (which carries every notification whole, and their text
            // again) stays under a megabyte: what does not fit goes with the next one.
            // Chat, cards and email show the first few, whatever the batch.
            let mut bytes = 0;
            let mut fits = keep.len();
            for (n, m) in keep.iter().enumerate() {
                bytes += m.payload.len();
                if n > 0 && m.channel == "webhook" && bytes > MAX_WEBHOOK_PAYLOADS {
                    fits = n;
                    break;
                }
            }
            for m in keep.drain(fits..) {
                tx.unbatch(m.id)?;
            }
            // The leader was left out: the first kept message leads, under its own key.
            if let Some(first) = keep.first() {
                if first.id != l.id {
                    tx.relead(l.id, first.id)?;
                }
            }
            Ok(keep)
        })?;
        let Some(first) = batch.first() else {
            return Ok(());
        };
        let mut m = first.clone();
        m.payload = combine(&m.channel, &batch);
        if batch.len() > 1 {
            self.metrics
                .notifications_grouped
                .add(batch.len() as u64 - 1);
        }
        self.deliver_and_record(m)
    }

    fn deliver_and_record(&self, m: Message) -> Result<(), StoreError> {
        self.count_attempt(&m.destination);
        let attempt = self.attempt(&m);
        let now = jiff::Timestamp::now().as_second();
        let attempts = m.attempts + 1;
        let id = m.id;
        match attempt {
            Attempt::Delivered => {
                self.metrics.notifications_delivered.add(1);
                tracing::info!(message = id, alert = ?m.alert, channel = %m.channel, destination = %m.destination, attempts, "notification delivered");
                self.store
                    .transact(move |tx| tx.delivered(id, attempts, now))
            }
            Attempt::Refused(error) => {
                self.metrics.notifications_dead.add(1);
                tracing::warn!(message = id, destination = %m.destination, %error, "notification refused; moved to the dead letters");
                self.store.transact(move |tx| tx.dead(id, attempts, &error))
            }
            Attempt::Transient(error, at_least) => {
                self.metrics.notification_retries.add(1);
                let backoff = self.backoff(attempts, id).max(at_least.unwrap_or_default());
                // At least the back-off from this instant, rounded up to the store's seconds.
                let next_ms = jiff::Timestamp::now().as_millisecond()
                    + i64::try_from(backoff.as_millis()).unwrap_or(i64::MAX / 2);
                let next = (next_ms + 999).div_euclid(1000).max(now + 1);
                if next > m.give_up_at {
                    self.metrics.notifications_dead.add(1);
                    let error = format!(
                        "gave up after {attempts} attempts over {}s: {error}",
                        now - m.created_at
                    );
                    tracing::warn!(message = id, destination = %m.destination, %error, "notification moved to the dead letters");
                    self.store.transact(move |tx| tx.dead(id, attempts, &error))
                } else {
                    tracing::info!(message = id, destination = %m.destination, %error, retry_in = backoff.as_secs(), "notification failed; retrying");
                    self.store
                        .transact(move |tx| tx.retry_later(id, attempts, next, &error))
                }
            }
        }
    }

    /// Exponential back-off with jitter: half to all of `base × 2^(attempts−1)`, capped.
    fn backoff(&self, attempts: i64, salt: i64) -> Duration {
        let exp = self
            .options
            .retry_base
            .saturating_mul(1u32 << (attempts - 1).clamp(0, 20) as u32)
            .min(self.options.retry_max);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        // A cheap mix of the clock and the message id: jitter, not cryptography.
        let r = (u64::from(nanos) ^ (salt as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) % 1000;
        exp.mul_f64(0.5 + r as f64 / 2000.0)
    }

    /// Sends an email notification through the SMTP relay; its Message-ID carries the
    /// idempotency key, the same on every attempt.
    fn mail(&self, m: &Message) -> Attempt {
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

    fn attempt(&self, m: &Message) -> Attempt {
        if m.channel == "email" {
            return self.mail(m);
        }
        let now = jiff::Timestamp::now().as_second();
        let mut req = self
            .agent
            .post(&m.destination)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", &m.idempotency_key)
            .header("X-Steward-Timestamp", &now.to_string());
        if let Some(key) = &self.options.signing_key {
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
                format!("no answer within {}s", self.options.timeout.as_secs()),
                None,
            ),
            Err(e @ (ureq::Error::BadUri(_) | ureq::Error::InvalidProxyUrl)) => {
                Attempt::Refused(format!("the destination cannot be used: {e}"))
            }
            Err(e) => Attempt::Transient(e.to_string(), None),
        }
    }
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

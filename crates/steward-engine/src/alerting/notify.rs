//! Notifications: rendered when queued (so every attempt sends the same bytes), delivered
//! from the outbox at least once, with the same idempotency key on every attempt.
//!
//! Each destination has at most one delivery in flight, and deliveries run on threads of
//! their own, so a receiver that hangs holds up only its own messages. A 5xx, a 429 or a
//! timeout is retried with exponential back-off and jitter until the message's give-up time;
//! then, or at once for a refusal (another 4xx), it becomes a dead letter, which the API lists
//! and can send again.

use super::channels::{combine, Attempt, Notifier, Notifiers};
use crate::metrics::Metrics;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use steward_model::catalog::Channel;
use steward_store::{Message, Store, StoreError};

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

/// Whether an alert still needs someone: open, unacknowledged, a page, and nothing holds it
/// back (a notification queued before a silence, a dependency's page or a lowering to a
/// ticket is not sent).
fn still_pages(a: &steward_store::Alert) -> bool {
    a.status == steward_store::AlertStatus::Triggered
        && a.suppressed.is_none()
        && a.urgency == steward_model::Severity::Page
}

/// The outbox worker and its deliveries.
pub struct Outbox {
    store: Store,
    options: DeliveryOptions,
    metrics: Arc<Metrics>,
    notifiers: Notifiers,
    woken: Mutex<bool>,
    bell: Condvar,
    /// Destinations with a delivery in flight.
    in_flight: Mutex<HashSet<String>>,
    /// Messages sent to each destination in the current minute.
    sent: Mutex<HashMap<String, (i64, u32)>>,
}

impl Outbox {
    pub fn new(store: Store, options: DeliveryOptions, metrics: Arc<Metrics>) -> Outbox {
        Outbox {
            notifiers: Notifiers::new(&options),
            store,
            options,
            metrics,
            woken: Mutex::new(false),
            bell: Condvar::new(),
            in_flight: Mutex::default(),
            sent: Mutex::default(),
        }
    }

    /// The channel's notifier.
    pub fn notifier(&self, channel: Channel) -> &dyn Notifier {
        self.notifiers.of(channel)
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
                        Ok(Err(e)) => tracing::error!(error = %e, destination = %super::redact(&dest), "cannot record a delivery; it will be tried again"),
                        Err(_) => tracing::error!(destination = %super::redact(&dest), "a delivery panicked; it will be tried again"),
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
        let most = self
            .notifier(leader.channel)
            .max_batch_bytes()
            .unwrap_or(usize::MAX);
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
                if n > 0 && bytes > most {
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
        m.payload = combine(self.notifier(m.channel), &batch);
        if batch.len() > 1 {
            self.metrics
                .notifications_grouped
                .add(batch.len() as u64 - 1);
        }
        self.deliver_and_record(m)
    }

    fn deliver_and_record(&self, m: Message) -> Result<(), StoreError> {
        self.count_attempt(&m.destination);
        let attempt = self.notifier(m.channel).send(&m);
        let now = jiff::Timestamp::now().as_second();
        let attempts = m.attempts + 1;
        let id = m.id;
        match attempt {
            Attempt::Delivered => {
                self.metrics.notifications_delivered.add(1);
                tracing::info!(message = id, alert = ?m.alert, channel = %m.channel, destination = %super::redact(&m.destination), attempts, "notification delivered");
                self.store
                    .transact(move |tx| tx.delivered(id, attempts, now))
            }
            Attempt::Refused(error) => {
                self.metrics.notifications_dead.add(1);
                tracing::warn!(message = id, destination = %super::redact(&m.destination), error = %super::redact_urls(&error.to_string()), "notification refused; moved to the dead letters");
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
                    tracing::warn!(message = id, destination = %super::redact(&m.destination), error = %super::redact_urls(&error.to_string()), "notification moved to the dead letters");
                    self.store.transact(move |tx| tx.dead(id, attempts, &error))
                } else {
                    tracing::info!(message = id, destination = %super::redact(&m.destination), %error, retry_in = backoff.as_secs(), "notification failed; retrying");
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
}

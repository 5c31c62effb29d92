//! Routing and escalation: a page nothing holds back goes to the first matching route's
//! policy, else its service's; joins its service's incident; and is escalated step by step,
//! each step's notifications queued (grouped, see `grouping.rs`) with the move to the next
//! step in one transaction.

use super::{grouping, overrides_of, suppress, Alerting, Notice};
use std::sync::Arc;
use steward_model::catalog::Channel;
use steward_model::escalation::Target;
use steward_model::matcher::{all_match, Labels};
use steward_model::Severity;
use steward_store::{Alert, AlertStatus, Escalation, NewMessage, StoreError, Tx};

/// Escalation steps taken in one transaction at most.
const STEPS_PER_TRANSACTION: u32 = 64;

impl Alerting {
    /// A repeat that changed the alert's urgency: a ticket raised to a page is routed now,
    /// as a new page would be; a page lowered to a ticket stops escalating.
    pub(super) fn regraded(
        &self,
        tx: &mut Tx<'_>,
        ctx: &mut suppress::Context<'_>,
        a: &Alert,
        was: Severity,
        now: i64,
    ) -> Result<(), StoreError> {
        if was == a.urgency {
            return Ok(());
        }
        if a.urgency == Severity::Page {
            tx.log(
                a.id,
                now,
                "raised",
                "steward",
                &format!("raised to a page ({})", a.severity),
            )?;
            if a.status != AlertStatus::Triggered {
                return Ok(());
            }
            self.route(tx, ctx, a, now)
        } else {
            // A ticket is never held back nor escalated: whatever held the page back is
            // forgotten with it.
            tx.stop_escalation(a.id)?;
            tx.set_suppressed(a.id, None)?;
            ctx.set_suppressed(a.id, None);
            tx.log(
                a.id,
                now,
                "lowered",
                "steward",
                &format!(
                    "lowered to a ticket ({}); it no longer escalates",
                    a.severity
                ),
            )
        }
    }

    /// For a new alert: who it goes to, unless something suppresses it.
    pub(super) fn route(
        &self,
        tx: &mut Tx<'_>,
        ctx: &mut suppress::Context<'_>,
        a: &Alert,
        now: i64,
    ) -> Result<(), StoreError> {
        if a.urgency != Severity::Page {
            return Ok(());
        }
        // A page about a runbook's run goes where the runbook's escalation line says.
        let policy = match a.labels.get("escalation_policy") {
            Some(p) if a.source == "runbook" && self.catalog.policy(p).is_some() => Some(p.clone()),
            _ => self.policy_for(a.service.as_deref(), &a.labels),
        };
        tx.set_policy(a.id, policy.as_deref())?;
        if let Some(why) = ctx.suppressed(tx, a, now)? {
            tx.set_suppressed(a.id, Some(&why))?;
            ctx.set_suppressed(a.id, Some(&why));
            tx.log(a.id, now, "suppressed", "steward", &why.to_string())?;
            return Ok(());
        }
        self.auto_run(tx, a, now)?;
        self.escalate_page(tx, ctx, a, policy, "routed", now)
    }

    /// Starts paging for an alert that notifies (new, raised, or no longer suppressed): it
    /// joins its service's incident, if the service opens them; the person who has an
    /// acknowledged incident hears of it first, and the escalation policy follows unless
    /// they acknowledge within its first step's delay; otherwise step 1 is notified now.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn escalate_page(
        &self,
        tx: &mut Tx<'_>,
        ctx: &mut suppress::Context<'_>,
        a: &Alert,
        policy: Option<String>,
        why: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let holder = match a.incident {
            None => self.auto_incident(tx, a, now)?,
            Some(_) => None,
        };
        let mut first_at = now;
        if let Some((incident, person)) = &holder {
            let reached = self.notify(
                tx,
                a,
                Recipients {
                    people: vec![person.clone()],
                    webhooks: Vec::new(),
                    policy: policy.as_deref().unwrap_or("-"),
                    step: 0,
                    round: 0,
                    key: format!("{now}-incident{incident}"),
                },
                now,
            )?;
            let first_delay = policy
                .as_deref()
                .and_then(|p| self.catalog.policy(p))
                .and_then(|p| p.steps.first())
                .map_or(0, |s| s.delay);
            if reached.queued > 0 {
                first_at = now + first_delay;
            }
            tx.log(
                a.id,
                now,
                if reached.destinations == 0 {
                    "unreached"
                } else {
                    "notified"
                },
                "steward",
                &format!(
                    "joined incident {incident}, which {person} has: {}{}",
                    reached.describe(),
                    if reached.queued > 0 && policy.is_some() {
                        format!(
                            "; the escalation policy follows unless acknowledged within {}",
                            steward_model::Duration::from_secs(first_delay)
                        )
                    } else {
                        String::new()
                    }
                ),
            )?;
        }
        match policy {
            Some(p) => {
                tx.start_escalation(a.id, &p, first_at)?;
                tx.log(a.id, now, why, "steward", &format!("escalation policy {p}"))?;
                if first_at > now {
                    return Ok(());
                }
                // The first step's notifications are queued in this same transaction: the
                // alert and who it pages commit together, and nothing waits for the worker.
                let first = Escalation {
                    alert: a.id,
                    policy: p,
                    step: 0,
                    round: 0,
                    next_at: now,
                    started_at: now,
                };
                self.step(tx, ctx, first, now).map(|_| ())
            }
            None if holder.is_some() => Ok(()),
            None => tx.log(
                a.id,
                now,
                "unrouted",
                "steward",
                &format!(
                    "nobody is paged: service {} has no escalation policy and no route matches",
                    a.service.as_deref().unwrap_or("(none)")
                ),
            ),
        }
    }

    /// The first route whose matchers match, else the service's own policy.
    pub(super) fn policy_for(&self, service: Option<&str>, labels: &Labels) -> Option<String> {
        self.catalog
            .routes
            .iter()
            .find(|r| all_match(&r.matchers, labels))
            .map(|r| r.policy.clone())
            .or_else(|| {
                service
                    .and_then(|s| self.catalog.service(s))
                    .and_then(|s| s.escalation_policy.clone())
            })
    }

    /// Runs every escalation step that is due, each in its own transaction.
    /// Steps are taken up to [`STEPS_PER_TRANSACTION`] at a time: each step's notifications
    /// and its move to the next step still commit together.
    pub fn escalate(self: &Arc<Self>, now: i64) -> Result<(), StoreError> {
        loop {
            let me = self.clone();
            let (taken, queued) = self.store.transact(move |tx| {
                let due = tx.due_escalations(now, STEPS_PER_TRANSACTION)?;
                let mut ctx = me.context();
                let mut queued = 0;
                for e in &due {
                    queued += me.step(tx, &mut ctx, e.clone(), now)?;
                }
                Ok((due.len(), queued))
            })?;
            if queued > 0 {
                self.outbox.wake();
            }
            if taken < STEPS_PER_TRANSACTION as usize {
                return Ok(());
            }
        }
    }

    /// One escalation step: its notifications and the move to the next step; how many
    /// notifications it queued.
    pub(super) fn step(
        &self,
        tx: &mut Tx<'_>,
        ctx: &mut suppress::Context<'_>,
        e: Escalation,
        now: i64,
    ) -> Result<usize, StoreError> {
        let Some(alert) = tx.alert(e.alert)? else {
            tx.stop_escalation(e.alert)?;
            return Ok(0);
        };
        // Acknowledged, resolved, or a ticket now: nobody is paged further.
        if alert.status != AlertStatus::Triggered || alert.urgency != Severity::Page {
            tx.stop_escalation(e.alert)?;
            return Ok(0);
        }
        if let Some(why) = ctx.suppressed(tx, &alert, now)? {
            tx.set_suppressed(alert.id, Some(&why))?;
            ctx.set_suppressed(alert.id, Some(&why));
            tx.stop_escalation(alert.id)?;
            tx.log(alert.id, now, "suppressed", "steward", &why.to_string())?;
            return Ok(0);
        }
        let Some(policy) = self.catalog.policy(&e.policy) else {
            // The policy went away in a reload: the page is routed again, from the first
            // step of where it goes now, rather than left with nobody.
            let now_to = self.policy_for(alert.service.as_deref(), &alert.labels);
            tx.set_policy(alert.id, now_to.as_deref())?;
            let Some(p) = now_to.filter(|p| self.catalog.policy(p).is_some()) else {
                tx.stop_escalation(alert.id)?;
                tracing::error!(alert = alert.id, policy = %e.policy, "a page's escalation policy is gone and nothing routes it: it reaches nobody");
                return tx
                    .log(
                        alert.id,
                        now,
                        "unrouted",
                        "steward",
                        &format!(
                            "escalation policy {} is no longer configured and no route or service policy takes the page: nobody is paged",
                            e.policy
                        ),
                    )
                    .map(|()| 0);
            };
            tx.log(
                alert.id,
                now,
                "routed",
                "steward",
                &format!(
                    "escalation policy {} is no longer configured; escalation policy {p} from its first step",
                    e.policy
                ),
            )?;
            tx.start_escalation(alert.id, &p, now)?;
            let first = Escalation {
                alert: alert.id,
                policy: p,
                step: 0,
                round: 0,
                next_at: now,
                started_at: now,
            };
            return self.step(tx, ctx, first, now);
        };
        // Past the last step: its delay went by and nobody acknowledged. The last step is
        // notified again every repeat interval, as long as the alert is not acknowledged.
        let past_end = usize::try_from(e.step).unwrap_or(0) >= policy.steps.len();
        if past_end && self.options.repeat_interval <= 0 {
            tx.stop_escalation(alert.id)?;
            tx.log(
                alert.id,
                now,
                "exhausted",
                "steward",
                "every step notified; nobody acknowledged",
            )?;
            return Ok(0);
        }
        let (step_index, round) = if past_end {
            tx.log(
                alert.id,
                now,
                "exhausted",
                "steward",
                &format!(
                    "every step notified; nobody acknowledged; notifying the last step again every {}",
                    steward_model::Duration::from_secs(self.options.repeat_interval)
                ),
            )?;
            (policy.steps.len() - 1, e.round + 1)
        } else {
            (usize::try_from(e.step).unwrap_or(0), e.round)
        };
        let step = &policy.steps[step_index];
        // Who this step reaches.
        let mut people: Vec<String> = Vec::new();
        let mut webhooks: Vec<String> = Vec::new();
        let mut nobody: Vec<String> = Vec::new();
        for t in &step.targets {
            match t {
                Target::User(u) => people.push(u.clone()),
                Target::Schedule(s) => match self.on_call(tx, s, now)? {
                    Some(u) => people.push(u),
                    None => nobody.push(s.clone()),
                },
                Target::Webhook(url) => webhooks.push(url.clone()),
            }
        }
        for s in &nobody {
            tx.log(
                alert.id,
                now,
                "uncovered",
                "steward",
                &format!("nobody is on call for schedule {s}"),
            )?;
        }
        let reached = self.notify(
            tx,
            &alert,
            Recipients {
                people,
                webhooks,
                policy: &policy.name,
                step: step_index,
                round,
                key: format!("{}-r{round}-s{step_index}", e.started_at),
            },
            now,
        )?;
        tx.log(
            alert.id,
            now,
            if reached.destinations == 0 {
                "unreached"
            } else {
                "notified"
            },
            "steward",
            &format!(
                "step {} of {} (round {}): {}",
                step_index + 1,
                policy.steps.len(),
                round + 1,
                reached.describe()
            ),
        )?;
        let queued = reached.queued;
        // After the last step, the escalation waits out its delay (then the repeat interval)
        // before it notifies the last step again.
        let wait = if past_end {
            self.options.repeat_interval
        } else {
            step.delay
        };
        let (next_step, round, at) = match policy.next(step_index, round as u32, now) {
            Some(next) if !past_end => next,
            _ => (policy.steps.len(), round as u32, now.saturating_add(wait)),
        };
        tx.set_escalation(&Escalation {
            alert: alert.id,
            policy: e.policy.clone(),
            step: next_step as i64,
            round: i64::from(round),
            next_at: at,
            started_at: e.started_at,
        })?;
        Ok(queued)
    }

    /// Queues one notification per destination of `to`'s people (their contacts) and
    /// webhooks, rendered now, grouped by the alert's kind; what it reached.
    pub(super) fn notify(
        &self,
        tx: &mut Tx<'_>,
        alert: &Alert,
        to: Recipients<'_>,
        now: i64,
    ) -> Result<Reached, StoreError> {
        let labels = &alert.labels;
        let mut people = to.people;
        let mut seen = std::collections::HashSet::new();
        people.retain(|p| seen.insert(p.clone()));
        let mut destinations: Vec<(Channel, String, Option<String>)> = Vec::new();
        for p in &people {
            let contacts = self
                .catalog
                .user(p)
                .map(|u| u.contacts.clone())
                .unwrap_or_default();
            if contacts.is_empty() {
                tx.log(
                    alert.id,
                    now,
                    "unreachable",
                    "steward",
                    &format!("user {p} has no contacts"),
                )?;
            }
            for c in contacts {
                let (channel, dest) = c.channel();
                if channel == Channel::Email && self.options.delivery.smtp.is_none() {
                    tx.log(
                        alert.id,
                        now,
                        "unreachable",
                        "steward",
                        &format!("user {p}'s email {dest} is not sent: no SMTP relay is set up (--smtp-url)"),
                    )?;
                    continue;
                }
                destinations.push((channel, dest.to_string(), Some(p.clone())));
            }
        }
        for w in to.webhooks {
            destinations.push((Channel::Webhook, w, None));
        }
        let service = alert
            .service
            .as_deref()
            .and_then(|s| self.catalog.service(s));
        let public_url = crate::lock(&self.public_url).clone();
        let info = Notice {
            alert,
            labels,
            owner: service.and_then(|s| s.owner.clone()),
            paged: &people,
            step: to.step,
            round: to.round,
            policy: to.policy,
            public_url: &public_url,
            runbook: self
                .catalog
                .runbook_for(alert.service.as_deref(), labels)
                .map(|r| r.name.as_str()),
        };
        let mut queued = 0;
        let group = grouping::group_key(
            to.policy,
            alert.urgency,
            &self.options.group_by,
            labels,
            &alert.integration,
        );
        for (channel, dest, _) in &destinations {
            let key = format!(
                "steward-alert-{}-{}-{:016x}",
                alert.id,
                to.key,
                crate::body_hash(format!("{channel} {dest}").as_bytes())
            );
            let due_at = grouping::due_at(
                tx.group_timing(dest, &group)?,
                now,
                self.options.group_wait,
                self.options.group_interval,
            );
            let m = NewMessage {
                alert: Some(alert.id),
                service: alert.service.clone(),
                customer: alert.customer.clone(),
                channel: *channel,
                destination: dest.clone(),
                payload: self.outbox.notifier(*channel).render(&info),
                idempotency_key: key,
                at: now,
                due_at,
                give_up_at: due_at + self.options.delivery.give_up_after,
                created_by: "steward".into(),
                group_key: Some(group.clone()),
            };
            if tx.queue(&m)?.is_some() {
                queued += 1;
            }
        }
        if destinations.is_empty() {
            tracing::warn!(alert = alert.id, policy = %to.policy, step = to.step + 1, "an escalation step reaches nobody: its users have no contacts and nobody is on call; see the alert's history");
        }
        let mut who = people;
        who.extend(
            destinations
                .iter()
                .filter(|d| d.2.is_none())
                .map(|d| d.1.clone()),
        );
        Ok(Reached {
            destinations: destinations.len(),
            queued,
            who,
        })
    }

    /// Who is on call for a schedule at `at`, overrides included.
    pub fn on_call(
        &self,
        tx: &mut Tx<'_>,
        schedule: &str,
        at: i64,
    ) -> Result<Option<String>, StoreError> {
        let Some(s) = self.catalog.schedule(schedule) else {
            return Ok(None);
        };
        let overrides = overrides_of(tx, schedule, at, at + 1)?;
        Ok(s.on_call(&overrides, at))
    }
}

/// Who one notification round goes to, and what names it.
pub(super) struct Recipients<'a> {
    people: Vec<String>,
    webhooks: Vec<String>,
    policy: &'a str,
    step: usize,
    round: i64,
    /// What makes the idempotency keys of this round unique for the alert.
    key: String,
}

/// What a notification round reached.
pub(super) struct Reached {
    /// Destinations found (contacts and webhooks).
    destinations: usize,
    /// Notifications queued (a key queued before is not queued again).
    queued: usize,
    /// The people and webhooks reached.
    who: Vec<String>,
}

impl Reached {
    pub(super) fn describe(&self) -> String {
        if self.destinations == 0 {
            "no one to notify".to_string()
        } else if self.queued == 0 {
            "already notified".to_string()
        } else {
            self.who.join(", ")
        }
    }
}

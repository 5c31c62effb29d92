//! What a customer is shown: the status page (its services now, 90 days of bars, published
//! updates, maintenance) and the month's SLO report, assembled from the store and the last
//! snapshot. The figures are [`Engine::counts_in`]'s, judged by `steward_model::status`.

use crate::history::SpanCounts;
use crate::{Engine, EngineError};
use jiff::civil::Date;
use std::collections::HashMap;
use steward_model::catalog::Customer;
use steward_model::status::{day_state, last_days, Attainment, DayState, ServiceState};
use steward_model::Severity;
use steward_store::{Incident, IncidentEvent, ReadinessDay, PUBLISHED_UPDATE};

/// Days of bars on a status page.
pub const STATUS_DAYS: usize = 90;
/// How far ahead a status page announces maintenance.
pub const MAINTENANCE_AHEAD: i64 = 14 * 86_400;

/// One service of a status page.
#[derive(Clone, Debug)]
pub struct ServiceStatus {
    pub name: String,
    pub state: ServiceState,
    /// The worst of its objectives each day, oldest first; empty when it has no SLO.
    pub days: Vec<DayState>,
    /// Its SLOs' good share over the days shown (the strictest objective's), if any traffic.
    pub good_share: Option<f64>,
}

/// A maintenance window open now or within [`MAINTENANCE_AHEAD`].
#[derive(Clone, Debug)]
pub struct Maintenance {
    pub name: String,
    pub services: Vec<String>,
    pub start: i64,
    pub end: i64,
}

#[derive(Clone, Debug)]
pub struct StatusPage {
    pub customer: Customer,
    pub at: i64,
    /// The days of the bars: date and `[start, end)`, oldest first.
    pub days: Vec<(Date, i64, i64)>,
    pub services: Vec<ServiceStatus>,
    /// Published updates of the days shown, newest first, with their incident.
    pub updates: Vec<(IncidentEvent, Incident)>,
    pub maintenance: Vec<Maintenance>,
}

impl StatusPage {
    /// The customer's state: its worst service's.
    pub fn state(&self) -> ServiceState {
        self.services
            .iter()
            .map(|s| s.state)
            .max_by_key(|s| s.severity())
            .unwrap_or(ServiceState::Operational)
    }
}

/// One SLO of a month's report.
#[derive(Clone, Debug)]
pub struct ReportSlo {
    pub slo: String,
    pub service: String,
    pub attainment: Attainment,
}

#[derive(Clone, Debug)]
pub struct MonthReport {
    pub customer: Customer,
    pub from: i64,
    pub to: i64,
    pub slos: Vec<ReportSlo>,
    /// Incidents of its services open at some time in the month, oldest first.
    pub incidents: Vec<Incident>,
    /// Each service's readiness as kept on the month's last day (or before).
    pub readiness: Vec<ReadinessDay>,
}

impl Engine {
    fn customer_of(&self, name: &str) -> Option<(Customer, Vec<String>)> {
        let c = self.catalog.customers.iter().find(|c| c.name == name)?;
        let services = self
            .catalog
            .services
            .iter()
            .filter(|s| s.customer.as_deref() == Some(name))
            .map(|s| s.name.clone())
            .collect();
        Some((c.clone(), services))
    }

    fn counts_of_services(
        &self,
        services: &[String],
        spans: &[(i64, i64)],
    ) -> Result<Vec<SpanCounts>, EngineError> {
        self.counts_in(|d| services.contains(&d.service), spans)
    }

    /// The status page of `customer` at `now`; `None` if there is no such customer.
    pub fn status_page(&self, customer: &str, now: i64) -> Result<Option<StatusPage>, EngineError> {
        let Some((customer, services)) = self.customer_of(customer) else {
            return Ok(None);
        };
        let days = last_days(now, STATUS_DAYS, &customer.status_page.time_zone);
        let spans: Vec<(i64, i64)> = days.iter().map(|d| (d.1, d.2)).collect();
        let counts = self.counts_of_services(&services, &spans)?;
        let since = spans.first().map_or(now, |s| s.0);
        let name = customer.name.clone();
        let (open, updates) = self.store.transact(move |tx| {
            let open = tx.incidents_of(true, None, Some(&name), 1000)?;
            let updates = tx.published_updates(&name, since, 200)?;
            let mut with = Vec::with_capacity(updates.len());
            for u in updates {
                if let Some(i) = tx.incident(u.incident)? {
                    with.push((u, i));
                }
            }
            Ok((open, with))
        })?;
        let snap = self.snapshot();
        let mut burning: HashMap<&str, (bool, bool)> = HashMap::new();
        for r in snap.slos() {
            for a in r.status.alerts.iter().filter(|a| a.firing) {
                let e = burning.entry(r.def.service.as_str()).or_default();
                match a.rule.severity {
                    Severity::Page => e.0 = true,
                    Severity::Ticket => e.1 = true,
                }
            }
        }
        let mut rows = Vec::with_capacity(services.len());
        for s in &services {
            let mine: Vec<&SpanCounts> = counts.iter().filter(|c| &c.service == s).collect();
            let worst = open
                .iter()
                .filter(|i| &i.service == s)
                .map(|i| i.severity.as_str())
                .min();
            let (page, ticket) = burning.get(s.as_str()).copied().unwrap_or_default();
            let maintenance = self
                .catalog
                .maintenance
                .iter()
                .any(|m| m.services.contains(s) && m.is_active(now));
            let days_of = (0..spans.len())
                .map(|d| {
                    mine.iter()
                        .map(|c| day_state(c.counts[d], c.target))
                        .max_by_key(|s| s.severity())
                        .unwrap_or(DayState::NoTraffic)
                })
                .collect();
            let strictest = mine.iter().max_by(|a, b| a.target.total_cmp(&b.target));
            rows.push(ServiceStatus {
                name: s.clone(),
                state: ServiceState::of(worst, page, ticket, maintenance),
                days: if mine.is_empty() { Vec::new() } else { days_of },
                good_share: strictest.and_then(|c| {
                    let sum = c
                        .counts
                        .iter()
                        .fold(steward_model::Counts::default(), |a, b| a + *b);
                    Attainment::of(sum, c.target).ratio
                }),
            });
        }
        let mut maintenance: Vec<Maintenance> = self
            .catalog
            .maintenance
            .iter()
            .filter(|m| m.services.iter().any(|s| services.contains(s)))
            .flat_map(|m| {
                m.occurrences(now, now + MAINTENANCE_AHEAD)
                    .into_iter()
                    .map(|(start, end)| Maintenance {
                        name: m.name.clone(),
                        services: m
                            .services
                            .iter()
                            .filter(|s| services.contains(s))
                            .cloned()
                            .collect(),
                        start,
                        end,
                    })
            })
            .collect();
        maintenance.sort_by_key(|m| (m.start, m.name.clone()));
        maintenance.truncate(20);
        debug_assert!(updates.iter().all(|(u, _)| u.kind == PUBLISHED_UPDATE));
        Ok(Some(StatusPage {
            customer,
            at: now,
            days,
            services: rows,
            updates,
            maintenance,
        }))
    }

    /// The SLO report of `customer` over `[from, to)` (a month in its status page's zone);
    /// `None` if there is no such customer.
    pub fn month_report(
        &self,
        customer: &str,
        from: i64,
        to: i64,
    ) -> Result<Option<MonthReport>, EngineError> {
        let Some((customer, services)) = self.customer_of(customer) else {
            return Ok(None);
        };
        let counts = self.counts_of_services(&services, &[(from, to)])?;
        let last_day = jiff::Timestamp::from_second(to - 1)
            .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
            .unwrap_or_default();
        let name = customer.name.clone();
        let (incidents, mut readiness) = self.store.transact(move |tx| {
            Ok((
                tx.incidents_between(&name, from, to)?,
                tx.readiness_on(&last_day)?,
            ))
        })?;
        readiness.retain(|r| services.contains(&r.service));
        Ok(Some(MonthReport {
            customer,
            from,
            to,
            slos: counts
                .into_iter()
                .map(|c| ReportSlo {
                    attainment: Attainment::of(c.counts[0], c.target),
                    slo: c.slo,
                    service: c.service,
                })
                .collect(),
            incidents,
            readiness,
        }))
    }
}

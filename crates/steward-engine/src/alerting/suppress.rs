//! Why an alert notifies no one: an active silence, a maintenance window of its service, an
//! inhibition rule, or a firing page of a service it depends on (the cascade: when the
//! database pages, the services on top of it do not page too; their alerts are recorded and
//! linked to the database's).

use serde_json::Value;
use std::collections::HashMap;
use steward_config::Catalog;
use steward_model::matcher::{all_match, Labels, MatchOp, Matcher};
use steward_store::{Alert, AlertFilter, AlertStatus, StoreError, Tx};

/// Every service's dependencies, transitively (a cycle is cut where it closes).
pub fn dependencies(catalog: &Catalog) -> HashMap<String, Vec<String>> {
    let direct: HashMap<&str, &[String]> = catalog
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.depends_on.as_slice()))
        .collect();
    catalog
        .services
        .iter()
        .map(|s| {
            let mut seen: Vec<String> = Vec::new();
            let mut stack: Vec<&str> = s.depends_on.iter().map(String::as_str).collect();
            while let Some(d) = stack.pop() {
                if d == s.name || seen.iter().any(|x| x == d) {
                    continue;
                }
                seen.push(d.to_string());
                stack.extend(
                    direct
                        .get(d)
                        .copied()
                        .unwrap_or_default()
                        .iter()
                        .map(String::as_str),
                );
            }
            (s.name.clone(), seen)
        })
        .collect()
}

/// Reads silences as Alertmanager writes their matchers.
pub fn silence_matchers(json: &str) -> Result<Vec<Matcher>, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let items = v.as_array().ok_or("matchers must be a list")?;
    items
        .iter()
        .map(|m| {
            let name = m["name"].as_str().ok_or("a matcher needs a name")?;
            let value = m["value"].as_str().ok_or("a matcher needs a value")?;
            let is_regex = m["isRegex"].as_bool().unwrap_or(false);
            let is_equal = m["isEqual"].as_bool().unwrap_or(true);
            Matcher::new(name, MatchOp::from_flags(is_regex, is_equal), value)
        })
        .collect()
}

/// Matchers in Alertmanager's JSON shape, as silences are stored.
pub fn matchers_json(matchers: &[Matcher]) -> String {
    Value::Array(
        matchers
            .iter()
            .map(|m| {
                serde_json::json!({
                    "name": m.name,
                    "value": m.value,
                    "isRegex": m.op.is_regex(),
                    "isEqual": m.op.is_equal(),
                })
            })
            .collect(),
    )
    .to_string()
}

struct ActiveSilence {
    id: i64,
    matchers: Vec<Matcher>,
    starts_at: i64,
    ends_at: i64,
}

/// What suppression is judged against, read once per transaction: silences and the open
/// alerts.
pub struct Context {
    silences: Vec<ActiveSilence>,
    open: Vec<(Alert, Labels)>,
    dependencies: HashMap<String, Vec<String>>,
}

/// Open alerts read for inhibition at most: a storm larger than this is judged against its
/// newest alerts.
const MAX_OPEN: u32 = 10_000;

impl Context {
    pub fn load(
        tx: &mut Tx<'_>,
        _catalog: &Catalog,
        dependencies: &HashMap<String, Vec<String>>,
    ) -> Result<Context, StoreError> {
        let silences = tx
            .silences()?
            .into_iter()
            .filter_map(|s| {
                let matchers = silence_matchers(&s.matchers).ok()?;
                Some(ActiveSilence {
                    id: s.id,
                    matchers,
                    starts_at: s.starts_at,
                    ends_at: s.ends_at,
                })
            })
            .collect();
        let open = tx
            .alerts(&AlertFilter {
                unresolved: true,
                limit: Some(MAX_OPEN),
                ..AlertFilter::default()
            })?
            .into_iter()
            .map(|a| {
                let labels = serde_json::from_str(&a.labels).unwrap_or_default();
                (a, labels)
            })
            .collect();
        Ok(Context {
            silences,
            open,
            dependencies: dependencies.clone(),
        })
    }

    /// A new alert joins the open ones (later events of the same transaction see it).
    pub fn opened(&mut self, a: &Alert, labels: Labels) {
        self.open.push((a.clone(), labels));
    }

    pub fn resolved(&mut self, id: i64) {
        self.open.retain(|(a, _)| a.id != id);
    }

    /// Open alerts marked as suppressed.
    pub fn open_suppressed(&self) -> Vec<Alert> {
        self.open
            .iter()
            .filter(|(a, _)| a.suppressed.is_some())
            .map(|(a, _)| a.clone())
            .collect()
    }

    /// Why `a` notifies no one at `now`, if anything says so.
    pub fn suppressed(
        &self,
        catalog: &Catalog,
        a: &Alert,
        labels: &Labels,
        now: i64,
    ) -> Option<String> {
        if let Some(s) = self
            .silences
            .iter()
            .find(|s| s.starts_at <= now && now < s.ends_at && all_match(&s.matchers, labels))
        {
            return Some(format!("silenced by silence {}", s.id));
        }
        if let Some(service) = &a.service {
            if let Some(w) = catalog
                .maintenance
                .iter()
                .find(|w| w.services.contains(service) && w.is_active(now))
            {
                return Some(format!("in maintenance window {}", w.name));
            }
        }
        // Only an open page that itself notifies inhibits: a silenced source does not hide
        // its dependents.
        let sources = self.open.iter().filter(|(o, _)| {
            o.id != a.id && o.suppressed.is_none() && o.status != AlertStatus::Resolved
        });
        for (o, ol) in sources.clone() {
            for rule in &catalog.inhibit_rules {
                if all_match(&rule.target, labels)
                    && all_match(&rule.source, ol)
                    && rule.equal.iter().all(|l| labels.get(l) == ol.get(l))
                {
                    return Some(format!("inhibited by alert {} (rule {})", o.id, rule.name));
                }
            }
        }
        let service = a.service.as_ref()?;
        let deps = self.dependencies.get(service)?;
        if !super::pages(&a.severity) {
            return None;
        }
        sources
            .filter(|(o, _)| super::pages(&o.severity))
            .find(|(o, _)| o.service.as_ref().is_some_and(|s| deps.contains(s)))
            .map(|(o, _)| {
                format!(
                    "inhibited by alert {} of {}, which {} depends on",
                    o.id,
                    o.service.as_deref().unwrap_or_default(),
                    service
                )
            })
    }
}

//! The configuration documents as written: OpenSLO v1 kinds and Steward's own `steward/v1`
//! kinds. Parsing checks each document on its own (shape, types, ranges); references between
//! documents are checked by the catalog.

use crate::diag::Loc;
use crate::read::{Fields, Reader};
use crate::yaml::{Mark, Node, Value};

/// A name and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Name {
    pub name: String,
    pub loc: Loc,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Metadata {
    pub name: Name,
    pub display_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Document {
    Service(ServiceDoc),
    Sli(SliDoc),
    Slo(SloDoc),
    DataSource(DataSourceDoc),
    AlertPolicy(AlertPolicyDoc),
    AlertCondition(AlertConditionDoc),
    AlertNotificationTarget(AlertTargetDoc),
    Team(TeamDoc),
    CatalogService(CatalogServiceDoc),
    OnCall(crate::oncall::OnCallDoc),
    Runbook(crate::runbook::RunbookDoc),
    BudgetPolicy(crate::policy::BudgetPolicyDoc),
    BudgetAdjustment(crate::adjustment::BudgetAdjustmentDoc),
    ServiceClass(crate::readiness::ServiceClassDoc),
    Policy(crate::readiness::PolicyDoc),
}

impl Document {
    pub fn metadata(&self) -> &Metadata {
        match self {
            Document::Service(d) => &d.meta,
            Document::Sli(d) => &d.meta,
            Document::Slo(d) => &d.meta,
            Document::DataSource(d) => &d.meta,
            Document::AlertPolicy(d) => &d.meta,
            Document::AlertCondition(d) => &d.meta,
            Document::AlertNotificationTarget(d) => &d.meta,
            Document::Team(d) => &d.meta,
            Document::CatalogService(d) => &d.meta,
            Document::OnCall(d) => d.meta(),
            Document::Runbook(d) => &d.meta,
            Document::BudgetPolicy(d) => &d.meta,
            Document::BudgetAdjustment(d) => &d.meta,
            Document::ServiceClass(d) => &d.meta,
            Document::Policy(d) => &d.meta,
        }
    }

    /// The kind as written in `kind:` with its API version, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Document::Service(_) => "openslo/v1 Service",
            Document::Sli(_) => "SLI",
            Document::Slo(_) => "SLO",
            Document::DataSource(_) => "DataSource",
            Document::AlertPolicy(_) => "AlertPolicy",
            Document::AlertCondition(_) => "AlertCondition",
            Document::AlertNotificationTarget(_) => "AlertNotificationTarget",
            Document::Team(_) => "Team",
            Document::CatalogService(_) => "steward/v1 Service",
            Document::OnCall(d) => d.kind(),
            Document::Runbook(_) => "Runbook",
            Document::BudgetPolicy(_) => "ErrorBudgetPolicy",
            Document::BudgetAdjustment(_) => "BudgetAdjustment",
            Document::ServiceClass(_) => "ServiceClass",
            Document::Policy(_) => "Policy",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceDoc {
    pub meta: Metadata,
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DataSourceDoc {
    pub meta: Metadata,
    pub source_type: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MetricSource {
    pub source_ref: Option<Name>,
    pub source_type: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum IndicatorSpec {
    Ratio {
        good: Option<MetricSource>,
        bad: Option<MetricSource>,
        total: Option<MetricSource>,
    },
    Threshold {
        source: MetricSource,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct SliDoc {
    pub meta: Metadata,
    pub description: Option<String>,
    pub spec: IndicatorSpec,
}

#[derive(Clone, Debug, PartialEq)]
pub enum IndicatorUse {
    Inline(Box<SliDoc>),
    Ref(Name),
}

#[derive(Clone, Debug, PartialEq)]
pub enum TimeWindowDoc {
    Rolling {
        duration: DurationDoc,
    },
    Calendar {
        duration: DurationDoc,
        start: jiff::Zoned,
    },
}

/// A duration in OpenSLO shorthand: a count and a unit letter (`m h d w M Q Y`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DurationDoc {
    pub count: i64,
    pub unit: char,
    pub mark: Mark,
}

impl DurationDoc {
    /// Seconds, for the fixed-length units (`m`, `h`, `d`, `w`).
    pub fn fixed_secs(&self) -> Option<i64> {
        let unit = match self.unit {
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return None,
        };
        Some(self.count * unit)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodDoc {
    Occurrences,
    Timeslices,
    RatioTimeslices,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ObjectiveDoc {
    pub mark: Mark,
    pub display_name: Option<String>,
    pub op: Option<steward_model::Op>,
    pub value: Option<f64>,
    /// The target as a ratio (from `target`, or `targetPercent` / 100).
    pub target: Option<f64>,
    pub time_slice_target: Option<f64>,
    /// The slice length in seconds.
    pub time_slice_window: Option<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SloDoc {
    pub meta: Metadata,
    pub description: Option<String>,
    pub service: Option<Name>,
    pub indicator: Option<IndicatorUse>,
    pub time_window: Option<TimeWindowDoc>,
    pub method: Option<MethodDoc>,
    pub method_mark: Mark,
    pub objectives: Vec<ObjectiveDoc>,
    pub alert_policies: Vec<AlertPolicyUse>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AlertPolicyUse {
    Inline(Box<AlertPolicyDoc>),
    Ref(Name),
}

#[derive(Clone, Debug, PartialEq)]
pub struct AlertPolicyDoc {
    pub meta: Metadata,
    pub conditions: Vec<ConditionUse>,
    pub targets: Vec<TargetUse>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ConditionUse {
    Inline(Box<AlertConditionDoc>),
    Ref(Name),
}

#[derive(Clone, Debug, PartialEq)]
pub enum TargetUse {
    Inline(Box<AlertTargetDoc>),
    Ref(Name),
}

#[derive(Clone, Debug, PartialEq)]
pub struct AlertConditionDoc {
    pub meta: Metadata,
    pub severity: String,
    pub op: Option<steward_model::Op>,
    pub threshold: Option<f64>,
    pub lookback: Option<DurationDoc>,
    pub alert_after: Option<DurationDoc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AlertTargetDoc {
    pub meta: Metadata,
    pub target: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TeamDoc {
    pub meta: Metadata,
    pub members: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub title: String,
    pub url: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FailureModeDoc {
    pub name: String,
    pub description: Option<String>,
}

/// A `steward/v1` Service: the full catalog entry.
#[derive(Clone, Debug, PartialEq)]
pub struct CatalogServiceDoc {
    pub meta: Metadata,
    pub description: Option<String>,
    pub owner: Option<Name>,
    pub tier: Option<u8>,
    pub lifecycle: Option<String>,
    pub customer: Option<Name>,
    pub depends_on: Vec<Name>,
    pub escalation_policy: Option<Name>,
    pub links: Vec<Link>,
    pub failure_modes: Vec<FailureModeDoc>,
    /// `incidents: {automatic: true, severity: SEV2}`: the severity of the incident a page
    /// opens by itself, when it does.
    pub auto_incident: Option<String>,
    /// Its ServiceClass, and its own controls over the class's.
    pub class: Option<Name>,
    pub controls: Vec<steward_model::readiness::Control>,
    pub tags: Vec<String>,
    pub system: Option<String>,
}

pub(crate) const MAX_DESCRIPTION: usize = 1050;

/// Reads one document (a mapping with apiVersion, kind, metadata, spec).
pub fn read_document(r: &mut Reader<'_>, node: &Node) -> Option<Document> {
    let mut f = r.map(node, "a document")?;
    let api = f
        .required(r, "apiVersion")
        .and_then(|n| r.string(n, "apiVersion"));
    let kind_node = f.required(r, "kind");
    let kind = kind_node.and_then(|n| r.string(n, "kind"));
    let meta = f.required(r, "metadata");
    let spec = f.required(r, "spec");
    f.finish(r);
    let (api, kind, kind_node) = (api?, kind?, kind_node?);
    let api_mark = node_mark_of(node, "apiVersion");
    let known = match api.as_str() {
        "openslo/v1" => &[
            "SLO",
            "SLI",
            "Service",
            "DataSource",
            "AlertPolicy",
            "AlertCondition",
            "AlertNotificationTarget",
        ][..],
        "steward/v1" => &[
            "Service",
            "Team",
            "User",
            "Customer",
            "SingleSignOn",
            "Schedule",
            "EscalationPolicy",
            "Integration",
            "InhibitRule",
            "Route",
            "MaintenanceWindow",
            "Runbook",
            "ErrorBudgetPolicy",
            "ServiceClass",
            "Policy",
        ][..],
        "openslo.com/v2alpha" => &["BudgetAdjustment"][..],
        _ => {
            r.error(
                api_mark,
                format!("unsupported apiVersion `{api}`; expected openslo/v1, steward/v1 or openslo.com/v2alpha"),
            );
            return None;
        }
    };
    if !known.contains(&kind.as_str()) {
        r.error(
            kind_node.mark,
            format!(
                "unknown kind `{kind}` for {api}; expected one of: {}",
                known.join(", ")
            ),
        );
        return None;
    }
    let meta = read_metadata(r, meta?)?;
    let spec = spec?;
    let doc = match (api.as_str(), kind.as_str()) {
        ("openslo/v1", "Service") => Document::Service(read_service(r, meta, spec)?),
        ("openslo/v1", "SLI") => Document::Sli(read_sli_spec(r, meta, spec)?),
        ("openslo/v1", "SLO") => Document::Slo(read_slo(r, meta, spec)?),
        ("openslo/v1", "DataSource") => Document::DataSource(read_data_source(r, meta, spec)?),
        ("openslo/v1", "AlertPolicy") => Document::AlertPolicy(read_alert_policy(r, meta, spec)?),
        ("openslo/v1", "AlertCondition") => {
            Document::AlertCondition(read_alert_condition(r, meta, spec)?)
        }
        ("openslo/v1", "AlertNotificationTarget") => {
            Document::AlertNotificationTarget(read_alert_target(r, meta, spec)?)
        }
        ("steward/v1", "Team") => Document::Team(read_team(r, meta, spec)?),
        ("steward/v1", "Service") => Document::CatalogService(read_catalog_service(r, meta, spec)?),
        ("openslo.com/v2alpha", "BudgetAdjustment") => {
            Document::BudgetAdjustment(crate::adjustment::read(r, meta, spec)?)
        }
        ("steward/v1", "ErrorBudgetPolicy") => {
            Document::BudgetPolicy(crate::policy::read(r, meta, spec)?)
        }
        ("steward/v1", "Runbook") => Document::Runbook(crate::runbook::read(r, meta, spec)?),
        ("steward/v1", "ServiceClass") => {
            Document::ServiceClass(crate::readiness::read_class(r, meta, spec)?)
        }
        ("steward/v1", "Policy") => Document::Policy(crate::readiness::read_policy(r, meta, spec)?),
        ("steward/v1", kind) => Document::OnCall(crate::oncall::read(r, kind, meta, spec)?),
        _ => return None,
    };
    Some(doc)
}

fn node_mark_of(node: &Node, key: &str) -> Mark {
    if let Value::Map(entries) = &node.value {
        for (k, v) in entries {
            if matches!(&k.value, Value::Scalar { text, .. } if text == key) {
                return v.mark;
            }
        }
    }
    node.mark
}

/// An inline document inside another (`indicator:`, `conditions: - kind: AlertCondition`):
/// metadata and spec, and an optional `kind` that must match.
fn read_inline<'n>(
    r: &mut Reader<'_>,
    kind: &'static str,
    f: &mut Fields<'n>,
) -> Option<(Metadata, &'n Node)> {
    if let Some(k) = f.get("kind") {
        let written = r.string(k, "kind")?;
        if written != kind {
            r.error(
                k.mark,
                format!("expected kind `{kind}` here, found `{written}`"),
            );
            return None;
        }
    }
    let meta = f.required(r, "metadata");
    let spec = f.required(r, "spec");
    Some((read_metadata(r, meta?)?, spec?))
}

pub(crate) fn is_valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 255
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || matches!(c, b'.' | b'-' | b'|' | b'/' | b'\\')
        })
}

pub fn read_name(r: &mut Reader<'_>, node: &Node, what: &str) -> Option<Name> {
    let name = r.string(node, what)?;
    if !is_valid_name(&name) {
        r.error(
            node.mark,
            format!(
                "{what} `{name}` is not a valid name: use lowercase letters, digits, `-` and `.`, starting with a letter or digit (at most 255 characters)"
            ),
        );
        return None;
    }
    Some(Name {
        name,
        loc: r.loc(node.mark),
    })
}

fn read_metadata(r: &mut Reader<'_>, node: &Node) -> Option<Metadata> {
    let mut f = r.map(node, "metadata")?;
    let name = f
        .required(r, "name")
        .and_then(|n| read_name(r, n, "metadata.name"));
    let display_name = f
        .get("displayName")
        .and_then(|n| r.string(n, "metadata.displayName"));
    if let Some(labels) = f.get("labels") {
        read_labels(r, labels);
    }
    // Annotation keys are free-form: only their shape is checked.
    if let Some(annotations) = f.get("annotations") {
        r.map(annotations, "metadata.annotations");
    }
    f.finish(r);
    Some(Metadata {
        name: name?,
        display_name,
    })
}

/// Labels map to a string or a list of strings (both forms appear in OpenSLO documents).
fn read_labels(r: &mut Reader<'_>, node: &Node) {
    let Value::Map(entries) = &node.value else {
        r.error(
            node.mark,
            format!(
                "metadata.labels must be a mapping, found {}",
                node.kind_name()
            ),
        );
        return;
    };
    for (_, v) in entries {
        match &v.value {
            Value::Scalar { .. } | Value::Null => {}
            Value::Seq(items) => {
                for item in items {
                    r.string(item, "a label value");
                }
            }
            Value::Map(_) => r.error(
                v.mark,
                "a label value must be a string or a list of strings",
            ),
        }
    }
}

pub(crate) fn read_description(r: &mut Reader<'_>, f: &mut Fields<'_>) -> Option<String> {
    let node = f.get("description")?;
    let d = r.string(node, "description")?;
    let chars = d.chars().count();
    if chars > MAX_DESCRIPTION {
        r.error(
            node.mark,
            format!(
                "description is {chars} characters long; at most {MAX_DESCRIPTION} are allowed"
            ),
        );
    }
    Some(d)
}

fn read_service(r: &mut Reader<'_>, meta: Metadata, spec: &Node) -> Option<ServiceDoc> {
    let mut f = r.map(spec, "Service spec")?;
    let description = read_description(r, &mut f);
    f.finish(r);
    Some(ServiceDoc { meta, description })
}

fn read_data_source(r: &mut Reader<'_>, meta: Metadata, spec: &Node) -> Option<DataSourceDoc> {
    let mut f = r.map(spec, "DataSource spec")?;
    let _ = read_description(r, &mut f);
    let source_type = f.required(r, "type").and_then(|n| r.string(n, "type"));
    // Connection details are the source's own business (a mapping or a list).
    if !f.present("connectionDetails") {
        r.error(f.mark, "DataSource spec is missing `connectionDetails`");
    }
    f.finish(r);
    Some(DataSourceDoc {
        meta,
        source_type: source_type?,
    })
}

fn read_metric_source(r: &mut Reader<'_>, node: &Node, what: &str) -> Option<MetricSource> {
    let mut f = r.map(node, what)?;
    let ms = f.required(r, "metricSource")?;
    f.finish(r);
    let mut f = r.map(ms, "metricSource")?;
    let source_ref = f
        .get("metricSourceRef")
        .and_then(|n| read_name(r, n, "metricSourceRef"));
    let source_type = f.get("type").and_then(|n| r.string(n, "metricSource.type"));
    // The spec holds the source's own query fields, whatever they are; it may be empty.
    match f.get("spec") {
        Some(spec) => {
            r.map(spec, "metricSource.spec");
        }
        None if !f.present("spec") => r.error(f.mark, "metricSource is missing `spec`"),
        None => {}
    }
    f.finish(r);
    Some(MetricSource {
        source_ref,
        source_type,
    })
}

fn read_sli_spec(r: &mut Reader<'_>, meta: Metadata, spec: &Node) -> Option<SliDoc> {
    let mut f = r.map(spec, "SLI spec")?;
    let description = read_description(r, &mut f);
    let ratio = f.get("ratioMetric");
    let threshold = f.get("thresholdMetric");
    let mark = f.mark;
    f.finish(r);
    let spec = match (ratio, threshold) {
        (Some(ratio), None) => {
            let mut f = r.map(ratio, "ratioMetric")?;
            if let Some(c) = f.get("counter") {
                r.boolean(c, "ratioMetric.counter");
            }
            let good = f
                .get("good")
                .and_then(|n| read_metric_source(r, n, "ratioMetric.good"));
            let bad = f
                .get("bad")
                .and_then(|n| read_metric_source(r, n, "ratioMetric.bad"));
            let total = f
                .get("total")
                .and_then(|n| read_metric_source(r, n, "ratioMetric.total"));
            let raw = f.get("raw");
            if let Some(rt) = f.get("rawType") {
                let t = r.string(rt, "ratioMetric.rawType");
                if let Some(t) = t.filter(|t| t != "success" && t != "failure") {
                    r.error(
                        rt.mark,
                        format!("ratioMetric.rawType `{t}` is not success or failure"),
                    );
                }
            }
            let raw = raw.and_then(|n| read_metric_source(r, n, "ratioMetric.raw"));
            let fmark = f.mark;
            f.finish(r);
            if raw.is_none() {
                if total.is_none() {
                    r.error(fmark, "ratioMetric is missing `total`");
                }
                if good.is_none() && bad.is_none() {
                    r.error(fmark, "ratioMetric needs `good` or `bad` (with `total`)");
                }
            }
            IndicatorSpec::Ratio { good, bad, total }
        }
        (None, Some(threshold)) => IndicatorSpec::Threshold {
            source: read_metric_source(r, threshold, "thresholdMetric")?,
        },
        (Some(_), Some(_)) => {
            r.error(
                mark,
                "an SLI has either ratioMetric or thresholdMetric, not both",
            );
            return None;
        }
        (None, None) => {
            r.error(mark, "an SLI needs ratioMetric or thresholdMetric");
            return None;
        }
    };
    Some(SliDoc {
        meta,
        description,
        spec,
    })
}

pub fn read_duration(r: &mut Reader<'_>, node: &Node, what: &str) -> Option<DurationDoc> {
    let text = r.string(node, what)?;
    // The unit is the last character, whatever its width in bytes (`28日` is not a duration).
    let (num, unit) = match text.char_indices().last() {
        Some((at, unit)) => (&text[..at], unit),
        None => ("", ' '),
    };
    let count = num
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0 && !num.starts_with('0'));
    match count {
        Some(count) if "mhdwMQY".contains(unit) && count < 100_000 => Some(DurationDoc {
            count,
            unit,
            mark: node.mark,
        }),
        _ => {
            r.error(
                node.mark,
                format!(
                    "{what} `{text}` is not a duration; write a positive whole number and a unit: m (minutes), h, d, w, M (months), Q, Y — e.g. 30d"
                ),
            );
            None
        }
    }
}

fn read_time_window(r: &mut Reader<'_>, node: &Node) -> Option<TimeWindowDoc> {
    let items = r.list(node, "timeWindow")?;
    let first = match items {
        [one] => one,
        [] => {
            r.error(node.mark, "timeWindow needs one entry");
            return None;
        }
        [_, second, ..] => {
            r.error(second.mark, "timeWindow takes exactly one entry");
            return None;
        }
    };
    let mut f = r.map(first, "timeWindow entry")?;
    let duration = f
        .required(r, "duration")
        .and_then(|n| read_duration(r, n, "timeWindow.duration"));
    let rolling = f.get("isRolling").and_then(|n| r.boolean(n, "isRolling"));
    let calendar = f.get("calendar");
    let mark = f.mark;
    f.finish(r);
    let duration = duration?;
    if rolling == Some(true) {
        if let Some(c) = calendar {
            r.error(
                c.mark,
                "a rolling window takes no calendar; remove it or set isRolling: false",
            );
        }
        return Some(TimeWindowDoc::Rolling { duration });
    }
    let Some(calendar) = calendar else {
        r.error(mark, "a calendar window (isRolling false or absent) needs `calendar` with startTime and timeZone");
        return None;
    };
    let mut c = r.map(calendar, "calendar")?;
    let start = c.required(r, "startTime");
    let tz = c.required(r, "timeZone");
    c.finish(r);
    let tz_name = r.string(tz?, "calendar.timeZone")?;
    let Ok(zone) = jiff::tz::TimeZone::get(&tz_name) else {
        r.error(
            tz?.mark,
            format!("unknown time zone `{tz_name}`; use an IANA name such as Europe/Berlin"),
        );
        return None;
    };
    let start_node = start?;
    let start_text = r.string(start_node, "calendar.startTime")?;
    let Ok(dt) = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", &start_text) else {
        r.error(
            start_node.mark,
            format!("calendar.startTime `{start_text}` must be written as YYYY-MM-DD HH:MM:SS"),
        );
        return None;
    };
    if !(1970..=2100).contains(&dt.year()) {
        r.error(
            start_node.mark,
            format!("calendar.startTime `{start_text}` must be in the years 1970 to 2100"),
        );
        return None;
    }
    let Ok(start) = dt.to_zoned(zone) else {
        r.error(
            start_node.mark,
            format!("calendar.startTime `{start_text}` does not exist in {tz_name}"),
        );
        return None;
    };
    if duration.unit == 'm' || duration.unit == 'h' {
        r.warn(
            duration.mark,
            format!(
                "a calendar window of {}{} is very short; in OpenSLO `m` means minutes — for months write `M`",
                duration.count, duration.unit
            ),
        );
    }
    Some(TimeWindowDoc::Calendar { duration, start })
}

fn read_op(r: &mut Reader<'_>, node: &Node) -> Option<steward_model::Op> {
    use steward_model::Op;
    let text = r.string(node, "op")?;
    match text.as_str() {
        "lt" => Some(Op::Lt),
        "lte" => Some(Op::Lte),
        "gt" => Some(Op::Gt),
        "gte" => Some(Op::Gte),
        _ => {
            r.error(
                node.mark,
                format!("op `{text}` is not one of lt, lte, gt, gte"),
            );
            None
        }
    }
}

fn read_objective(r: &mut Reader<'_>, node: &Node) -> Option<ObjectiveDoc> {
    let mut f = r.map(node, "objective")?;
    let display_name = f
        .get("displayName")
        .and_then(|n| r.string(n, "displayName"));
    let op = f.get("op").and_then(|n| read_op(r, n));
    let value = f.get("value").and_then(|n| r.number(n, "value"));
    let target_node = f.get("target");
    let pct_node = f.get("targetPercent");
    let target = match (target_node, pct_node) {
        (Some(t), None) => r
            .number(t, "target")
            .and_then(|v| check_target(r, v, v, "target", t.mark)),
        (None, Some(p)) => r
            .number(p, "targetPercent")
            .and_then(|pct| check_target(r, pct / 100.0, pct, "targetPercent", p.mark)),
        (Some(_), Some(p)) => {
            r.error(p.mark, "give either target or targetPercent, not both");
            None
        }
        (None, None) => {
            r.error(f.mark, "objective is missing `target` (a ratio such as 0.999) or `targetPercent` (such as 99.9)");
            None
        }
    };
    let time_slice_target = f.get("timeSliceTarget").and_then(|n| {
        let t = r.number(n, "timeSliceTarget")?;
        if t > 0.0 && t <= 1.0 {
            Some(t)
        } else {
            r.error(
                n.mark,
                format!("timeSliceTarget {t} must be above 0 and at most 1"),
            );
            None
        }
    });
    let time_slice_window = f.get("timeSliceWindow").and_then(|n| {
        // A duration shorthand, or a number of seconds.
        if let Value::Scalar {
            text,
            quoted: false,
        } = &n.value
        {
            if let Ok(secs) = text.parse::<i64>() {
                if secs > 0 {
                    return Some(secs);
                }
            }
        }
        let d = read_duration(r, n, "timeSliceWindow")?;
        match d.fixed_secs() {
            Some(s) => Some(s),
            None => {
                r.error(
                    n.mark,
                    "timeSliceWindow must be in minutes, hours, days or seconds",
                );
                None
            }
        }
    });
    let mark = f.mark;
    f.finish(r);
    Some(ObjectiveDoc {
        mark,
        display_name,
        op,
        value,
        target,
        time_slice_target,
        time_slice_window,
    })
}

fn check_target(
    r: &mut Reader<'_>,
    ratio: f64,
    written: f64,
    what: &str,
    mark: Mark,
) -> Option<f64> {
    use steward_model::slo::MAX_TARGET;
    if ratio > MAX_TARGET && ratio < 1.0 {
        r.error(
            mark,
            format!("{what} {written} is above the highest target Steward takes, {MAX_TARGET} (nine nines): its error budget would be too small to compute"),
        );
        None
    } else if ratio > 0.0 && ratio < 1.0 {
        Some(ratio)
    } else {
        r.error(
            mark,
            format!("{what} {written} is impossible: an SLO target must be above 0 and below 1 (100%); a target of 100% leaves no error budget"),
        );
        None
    }
}

fn read_slo(r: &mut Reader<'_>, meta: Metadata, spec: &Node) -> Option<SloDoc> {
    let mut f = r.map(spec, "SLO spec")?;
    let description = read_description(r, &mut f);
    let service = f
        .required(r, "service")
        .and_then(|n| read_name(r, n, "service"));
    let inline = f.get("indicator");
    let reference = f.get("indicatorRef");
    let indicator = match (inline, reference) {
        (Some(node), None) => {
            let mut g = r.map(node, "indicator")?;
            let inline = read_inline(r, "SLI", &mut g);
            g.finish(r);
            let (m, s) = inline?;
            read_sli_spec(r, m, s).map(|d| IndicatorUse::Inline(Box::new(d)))
        }
        (None, Some(node)) => read_name(r, node, "indicatorRef").map(IndicatorUse::Ref),
        (Some(_), Some(node)) => {
            r.error(node.mark, "give either indicator or indicatorRef, not both");
            None
        }
        (None, None) => {
            r.error(
                f.mark,
                "SLO spec needs `indicator` (inline SLI) or `indicatorRef` (an SLI's name)",
            );
            None
        }
    };
    let time_window = match f.get("timeWindow") {
        Some(n) => read_time_window(r, n),
        None => {
            r.error(f.mark, "SLO spec is missing `timeWindow`; Steward needs a window such as `- duration: 28d\n    isRolling: true`");
            None
        }
    };
    let method_node = f.required(r, "budgetingMethod");
    let method_mark = method_node.map_or(f.mark, |n| n.mark);
    let method = method_node.and_then(|n| {
        let m = r.string(n, "budgetingMethod")?;
        match m.as_str() {
            "Occurrences" => Some(MethodDoc::Occurrences),
            "Timeslices" => Some(MethodDoc::Timeslices),
            "RatioTimeslices" => Some(MethodDoc::RatioTimeslices),
            _ => {
                r.error(n.mark, format!("budgetingMethod `{m}` is not one of Occurrences, Timeslices, RatioTimeslices"));
                None
            }
        }
    });
    let objectives = match f.required(r, "objectives") {
        Some(n) => match r.list(n, "objectives") {
            Some([]) => {
                r.error(n.mark, "objectives needs at least one objective");
                Vec::new()
            }
            Some(items) => items.iter().filter_map(|o| read_objective(r, o)).collect(),
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    let alert_policies = match f.get("alertPolicies") {
        Some(n) => r
            .list(n, "alertPolicies")
            .unwrap_or_default()
            .iter()
            .filter_map(|p| read_alert_policy_use(r, p))
            .collect(),
        None => Vec::new(),
    };
    f.finish(r);
    Some(SloDoc {
        meta,
        description,
        service,
        indicator,
        time_window,
        method,
        method_mark,
        objectives,
        alert_policies,
    })
}

fn read_alert_policy_use(r: &mut Reader<'_>, node: &Node) -> Option<AlertPolicyUse> {
    if let Value::Scalar { .. } = node.value {
        return read_name(r, node, "alert policy name").map(AlertPolicyUse::Ref);
    }
    let mut f = r.map(node, "alertPolicies entry")?;
    if let Some(n) = f.get("alertPolicyRef") {
        let name = read_name(r, n, "alertPolicyRef");
        f.finish(r);
        return name.map(AlertPolicyUse::Ref);
    }
    let inline = read_inline(r, "AlertPolicy", &mut f);
    f.finish(r);
    let (meta, spec) = inline?;
    read_alert_policy(r, meta, spec).map(|p| AlertPolicyUse::Inline(Box::new(p)))
}

fn read_alert_policy(r: &mut Reader<'_>, meta: Metadata, spec: &Node) -> Option<AlertPolicyDoc> {
    let mut f = r.map(spec, "AlertPolicy spec")?;
    let _ = read_description(r, &mut f);
    // The v1 spec makes these optional (false when absent), though its old schema did not.
    for key in ["alertWhenNoData", "alertWhenResolved", "alertWhenBreaching"] {
        if let Some(n) = f.get(key) {
            r.boolean(n, key);
        }
    }
    let conditions = f.required(r, "conditions").and_then(|n| {
        let items = r.list(n, "conditions")?;
        if items.len() != 1 {
            r.error(
                n.mark,
                format!(
                    "conditions must hold exactly one condition, found {}",
                    items.len()
                ),
            );
            return None;
        }
        Some(
            items
                .iter()
                .filter_map(|c| read_condition_use(r, c))
                .collect::<Vec<_>>(),
        )
    });
    let targets = f.required(r, "notificationTargets").and_then(|n| {
        let items = r.list(n, "notificationTargets")?;
        if items.is_empty() {
            r.error(n.mark, "notificationTargets needs at least one target");
            return None;
        }
        Some(
            items
                .iter()
                .filter_map(|t| read_target_use(r, t))
                .collect::<Vec<_>>(),
        )
    });
    f.finish(r);
    Some(AlertPolicyDoc {
        meta,
        conditions: conditions?,
        targets: targets?,
    })
}

fn read_condition_use(r: &mut Reader<'_>, node: &Node) -> Option<ConditionUse> {
    let mut f = r.map(node, "condition entry")?;
    if let Some(n) = f.get("conditionRef") {
        if let Some(op) = f.get("operator") {
            r.string(op, "operator");
        }
        let name = read_name(r, n, "conditionRef");
        f.finish(r);
        return name.map(ConditionUse::Ref);
    }
    if f.get("kind").is_none() && f.get("metadata").is_none() {
        f.finish(r);
        r.error(node.mark, "a condition entry needs `conditionRef` or an inline AlertCondition (kind, metadata, spec)");
        return None;
    }
    let inline = read_inline(r, "AlertCondition", &mut f);
    f.finish(r);
    let (meta, spec) = inline?;
    read_alert_condition(r, meta, spec).map(|c| ConditionUse::Inline(Box::new(c)))
}

fn read_target_use(r: &mut Reader<'_>, node: &Node) -> Option<TargetUse> {
    let mut f = r.map(node, "notification target entry")?;
    if let Some(n) = f.get("targetRef") {
        let name = read_name(r, n, "targetRef");
        f.finish(r);
        return name.map(TargetUse::Ref);
    }
    if f.get("kind").is_none() && f.get("metadata").is_none() {
        f.finish(r);
        r.error(node.mark, "a notification target entry needs `targetRef` or an inline AlertNotificationTarget (kind, metadata, spec)");
        return None;
    }
    let inline = read_inline(r, "AlertNotificationTarget", &mut f);
    f.finish(r);
    let (meta, spec) = inline?;
    read_alert_target(r, meta, spec).map(|t| TargetUse::Inline(Box::new(t)))
}

fn read_alert_condition(
    r: &mut Reader<'_>,
    meta: Metadata,
    spec: &Node,
) -> Option<AlertConditionDoc> {
    let mut f = r.map(spec, "AlertCondition spec")?;
    let _ = read_description(r, &mut f);
    let severity = f
        .required(r, "severity")
        .and_then(|n| r.string(n, "severity"));
    let condition = f.required(r, "condition");
    f.finish(r);
    let mut c = r.map(condition?, "condition")?;
    let kind = c.required(r, "kind").and_then(|n| {
        let k = r.string(n, "condition.kind")?;
        if k != "burnrate" {
            r.error(
                n.mark,
                format!("condition.kind `{k}` is not supported; the only kind is burnrate"),
            );
        }
        Some(k)
    });
    let op = c.get("op").and_then(|n| read_op(r, n));
    let threshold = c
        .required(r, "threshold")
        .and_then(|n| r.number(n, "condition.threshold"));
    let lookback = c
        .required(r, "lookbackWindow")
        .and_then(|n| read_duration(r, n, "condition.lookbackWindow"));
    let alert_after = c
        .get("alertAfter")
        .and_then(|n| read_duration(r, n, "condition.alertAfter"));
    c.finish(r);
    kind?;
    Some(AlertConditionDoc {
        meta,
        severity: severity?,
        op,
        threshold,
        lookback,
        alert_after,
    })
}

fn read_alert_target(r: &mut Reader<'_>, meta: Metadata, spec: &Node) -> Option<AlertTargetDoc> {
    let mut f = r.map(spec, "AlertNotificationTarget spec")?;
    let _ = read_description(r, &mut f);
    let target = f.required(r, "target").and_then(|n| r.string(n, "target"));
    f.finish(r);
    Some(AlertTargetDoc {
        meta,
        target: target?,
    })
}

fn read_team(r: &mut Reader<'_>, meta: Metadata, spec: &Node) -> Option<TeamDoc> {
    let mut f = r.map(spec, "Team spec")?;
    let _ = read_description(r, &mut f);
    let members = f
        .get("members")
        .map(|n| {
            r.strings(n, "members")
                .into_iter()
                .map(|(s, _)| s)
                .collect()
        })
        .unwrap_or_default();
    f.finish(r);
    Some(TeamDoc { meta, members })
}

fn read_catalog_service(
    r: &mut Reader<'_>,
    meta: Metadata,
    spec: &Node,
) -> Option<CatalogServiceDoc> {
    let mut f = r.map(spec, "steward/v1 Service spec")?;
    let description = read_description(r, &mut f);
    let owner = f
        .required(r, "owner")
        .and_then(|n| read_name(r, n, "owner"));
    let tier = f.required(r, "tier").and_then(|n| {
        let t = r.integer(n, "tier")?;
        if (1..=4).contains(&t) {
            Some(t as u8)
        } else {
            r.error(
                n.mark,
                format!("tier {t} is out of range; use 1 (most critical) to 4"),
            );
            None
        }
    });
    let lifecycle = f.get("lifecycle").and_then(|n| {
        let l = r.string(n, "lifecycle")?;
        if ["experimental", "production", "deprecated"].contains(&l.as_str()) {
            Some(l)
        } else {
            r.error(
                n.mark,
                format!("lifecycle `{l}` is not one of experimental, production, deprecated"),
            );
            None
        }
    });
    let customer = f.get("customer").and_then(|n| read_name(r, n, "customer"));
    let depends_on = match f.get("dependsOn") {
        Some(n) => r
            .list(n, "dependsOn")
            .unwrap_or_default()
            .iter()
            .filter_map(|d| read_name(r, d, "dependsOn entry"))
            .collect(),
        None => Vec::new(),
    };
    let escalation_policy = f
        .get("escalationPolicy")
        .and_then(|n| read_name(r, n, "escalationPolicy"));
    let links = match f.get("links") {
        Some(n) => r
            .list(n, "links")
            .unwrap_or_default()
            .iter()
            .filter_map(|l| {
                let mut g = r.map(l, "link")?;
                let title = g
                    .required(r, "title")
                    .and_then(|n| r.string(n, "link title"));
                let url = g.required(r, "url").and_then(|n| r.string(n, "link url"));
                g.finish(r);
                Some(Link {
                    title: title?,
                    url: url?,
                })
            })
            .collect(),
        None => Vec::new(),
    };
    let failure_modes = match f.get("failureModes") {
        Some(n) => r
            .list(n, "failureModes")
            .unwrap_or_default()
            .iter()
            .filter_map(|m| {
                let mut g = r.map(m, "failure mode")?;
                let name = g
                    .required(r, "name")
                    .and_then(|n| read_name(r, n, "failure mode name"));
                let description = g
                    .get("description")
                    .and_then(|n| r.string(n, "description"));
                g.finish(r);
                Some(FailureModeDoc {
                    name: name?.name,
                    description,
                })
            })
            .collect(),
        None => Vec::new(),
    };
    let auto_incident = f.get("incidents").and_then(|n| {
        let mut g = r.map(n, "incidents")?;
        let automatic = g
            .get("automatic")
            .and_then(|n| r.boolean(n, "automatic"))
            .unwrap_or(false);
        let severity = match g.get("severity") {
            Some(n) => read_severity(r, n)?,
            None => "SEV2".to_string(),
        };
        g.finish(r);
        automatic.then_some(severity)
    });
    let class = f.get("class").and_then(|n| read_name(r, n, "class"));
    let controls = f
        .get("controls")
        .map(|n| crate::readiness::read_controls(r, n))
        .unwrap_or_default();
    let tags = f
        .get("tags")
        .map(|n| r.strings(n, "tags"))
        .unwrap_or_default()
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    let system = f.get("system").and_then(|n| r.string(n, "system"));
    f.finish(r);
    Some(CatalogServiceDoc {
        class,
        controls,
        tags,
        system,
        meta,
        description,
        owner,
        tier,
        lifecycle,
        customer,
        depends_on,
        escalation_policy,
        links,
        failure_modes,
        auto_incident,
    })
}

/// An incident severity: SEV1 (the worst) to SEV4.
pub fn read_severity(r: &mut Reader<'_>, n: &Node) -> Option<String> {
    let s = r.string(n, "severity")?;
    if ["SEV1", "SEV2", "SEV3", "SEV4"].contains(&s.as_str()) {
        Some(s)
    } else {
        r.error(
            n.mark,
            format!("severity `{s}` is not one of SEV1, SEV2, SEV3, SEV4"),
        );
        None
    }
}

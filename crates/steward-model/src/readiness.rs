//! Readiness: does a service pass the 3am test? The responsibility map (which controls the
//! provider operates and which the customer still owns, and what proves each is done), the
//! named checks with their reasons and fixes, the maturity ladder, alert noise, and the
//! policies that require checks or a level. Pure: the engine gathers the facts.

use crate::catalog::Service;

crate::words! {
    /// Who operates a control of a managed service.
    pub enum ControlOwner {
        /// The provider that runs the service.
        Provider = "provider",
        /// The provider's customer, who still governs how the service is used.
        Customer = "customer",
    }
}

crate::words! {
    /// The seed's maturity ladder: every service starts at beginner.
    #[derive(PartialOrd, Ord)]
    pub enum Level {
        Beginner = "beginner",
        Intermediate = "intermediate",
        Advanced = "advanced",
    }
}

/// What proves a control is done, and how fresh that proof must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceRule {
    /// `restore-drill`, `access-review`, `patch-report`, ...
    pub kind: String,
    /// Seconds the newest evidence stays fresh.
    pub every: i64,
}

/// The kind of evidence the `recovery-test` check looks for.
pub const RESTORE_DRILL: &str = "restore-drill";

/// One control of a service's responsibility map. In a Service's own `controls`, a field
/// left out keeps the class's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Control {
    pub name: String,
    pub owner: Option<ControlOwner>,
    pub evidence: Option<EvidenceRule>,
}

/// A kind of service (`managed-database`, `internal-api`) and the controls every service of
/// it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceClass {
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub controls: Vec<Control>,
}

/// A service's controls: its class's, each overridden field by field by the service's own
/// control of the same name; the service's other controls follow.
pub fn controls_of(class: Option<&ServiceClass>, own: &[Control]) -> Vec<Control> {
    let mut out: Vec<Control> = class.map(|c| c.controls.clone()).unwrap_or_default();
    for o in own {
        match out.iter_mut().find(|c| c.name == o.name) {
            Some(c) => {
                if o.owner.is_some() {
                    c.owner = o.owner;
                }
                if o.evidence.is_some() {
                    c.evidence.clone_from(&o.evidence);
                }
            }
            None => out.push(o.clone()),
        }
    }
    out
}

/// Every check, in the order they are shown.
pub const CHECKS: [&str; 12] = [
    "owner",
    "oncall-coverage",
    "escalation",
    "slo",
    "slo-paging",
    "runbooks",
    "runbook-rehearsal",
    "recovery-test",
    "responsibilities",
    "evidence",
    "action-items",
    "alert-noise",
];

/// The checks each level adds, in [`CHECKS`]' order: the first six for intermediate, the
/// rest for advanced.
const BY_LEVEL: (&[&str], &[&str]) = CHECKS.split_at(6);

/// What a level needs beyond the one below it. Beginner needs nothing: every service starts
/// there. Intermediate: someone owns it, is reached at every hour and has a runbook for every
/// known failure; advanced: all of that proved by practice (rehearsals, restore drills,
/// evidence, closed action items, pages people act on).
pub const LEVEL_NEEDS: [(Level, &[&str]); 2] = [
    (Level::Intermediate, BY_LEVEL.0),
    (Level::Advanced, BY_LEVEL.1),
];

/// The checks a level needs, those of the levels below it included.
pub fn needs(level: Level) -> Vec<&'static str> {
    LEVEL_NEEDS
        .iter()
        .filter(|(l, _)| *l <= level)
        .flat_map(|(_, c)| c.iter().copied())
        .collect()
}

/// One check's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    /// Why it passed or failed, with the exact missing items.
    pub reason: String,
    /// What to do; `None` when it passed.
    pub fix: Option<String>,
}

impl Check {
    pub fn pass(name: &'static str, reason: impl Into<String>) -> Check {
        Check {
            name,
            passed: true,
            reason: reason.into(),
            fix: None,
        }
    }

    pub fn fail(name: &'static str, reason: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            passed: false,
            reason: reason.into(),
            fix: Some(fix.into()),
        }
    }
}

/// A service's readiness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub service: String,
    pub level: Level,
    /// 0–100: the share of checks passed, each worth the same.
    pub score: u8,
    pub checks: Vec<Check>,
}

impl Readiness {
    pub fn of(service: &str, checks: Vec<Check>) -> Readiness {
        let passed = |name: &str| checks.iter().any(|c| c.name == name && c.passed);
        let mut level = Level::Beginner;
        for (l, need) in LEVEL_NEEDS {
            if need.iter().all(|n| passed(n)) {
                level = l;
            } else {
                break;
            }
        }
        let ok = checks.iter().filter(|c| c.passed).count();
        let score = if checks.is_empty() {
            0
        } else {
            ((ok * 100 + checks.len() / 2) / checks.len()) as u8
        };
        Readiness {
            service: service.to_string(),
            level,
            score,
            checks,
        }
    }

    pub fn failing(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name)
            .collect()
    }

    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }
}

/// Worst first: lowest level, then lowest score, then by name.
pub fn worst_first(list: &mut [Readiness]) {
    list.sort_by(|a, b| (a.level, a.score, &a.service).cmp(&(b.level, b.score, &b.service)));
}

/// A page of the last 30 days, as `alert-noise` counts it.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// When its first notification went out.
    pub paged_at: i64,
    pub acknowledged_at: Option<i64>,
    /// A person acknowledged or resolved it (rather than its source resolving it).
    pub acted: bool,
    /// The time zone of the person it paged first.
    pub time_zone: jiff::tz::TimeZone,
}

/// How many days of pages `alert-noise` looks at.
pub const NOISE_DAYS: i64 = 30;

/// Alert-noise figures over [`NOISE_DAYS`].
#[derive(Clone, Debug, PartialEq)]
pub struct Noise {
    pub pages: usize,
    pub pages_per_week: f64,
    /// Pages no person acknowledged or resolved.
    pub unacted: usize,
    pub unacted_share: f64,
    /// Pages between 22:00 and 07:00 in the paged person's own time zone.
    pub night: usize,
    pub night_per_week: f64,
    /// The median time to acknowledge of acknowledged pages (seconds; of an even count, the
    /// mean of the middle two, rounded down).
    pub median_ack: Option<i64>,
}

/// Counts the pages of the last [`NOISE_DAYS`] days.
pub fn noise(pages: &[Page]) -> Noise {
    let weeks = NOISE_DAYS as f64 / 7.0;
    let unacted = pages.iter().filter(|p| !p.acted).count();
    let night = pages
        .iter()
        .filter(|p| {
            jiff::Timestamp::from_second(p.paged_at).is_ok_and(|t| {
                let h = t.to_zoned(p.time_zone.clone()).hour();
                !(7..22).contains(&h)
            })
        })
        .count();
    let mut acks: Vec<i64> = pages
        .iter()
        .filter_map(|p| p.acknowledged_at.map(|a| (a - p.paged_at).max(0)))
        .collect();
    acks.sort_unstable();
    let median_ack = match acks.len() {
        0 => None,
        n if n % 2 == 1 => Some(acks[n / 2]),
        n => Some((acks[n / 2 - 1] + acks[n / 2]) / 2),
    };
    Noise {
        pages: pages.len(),
        pages_per_week: pages.len() as f64 / weeks,
        unacted,
        unacted_share: if pages.is_empty() {
            0.0
        } else {
            unacted as f64 / pages.len() as f64
        },
        night,
        night_per_week: night as f64 / weeks,
        median_ack,
    }
}

/// The limits `alert-noise` holds a service to; a Policy may set them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoiseLimits {
    pub pages_per_week: f64,
    pub unacted_share: f64,
    pub night_pages_per_week: f64,
    /// Seconds.
    pub median_ack: i64,
}

impl Default for NoiseLimits {
    /// At most two pages a 12-hour shift averaged over a week (the SRE book's figure rounded
    /// down to 10 a week), a quarter left unacted, one night page a week, 15 minutes to
    /// acknowledge.
    fn default() -> NoiseLimits {
        NoiseLimits {
            pages_per_week: 10.0,
            unacted_share: 0.25,
            night_pages_per_week: 1.0,
            median_ack: 900,
        }
    }
}

impl NoiseLimits {
    /// Each limit the stricter of the two.
    pub fn stricter(self, o: NoiseLimits) -> NoiseLimits {
        NoiseLimits {
            pages_per_week: self.pages_per_week.min(o.pages_per_week),
            unacted_share: self.unacted_share.min(o.unacted_share),
            night_pages_per_week: self.night_pages_per_week.min(o.night_pages_per_week),
            median_ack: self.median_ack.min(o.median_ack),
        }
    }
}

/// Which services a Policy holds; a list left empty selects every service, a list given
/// selects services with one of its values (tags: with every listed tag).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    pub tiers: Vec<u8>,
    pub lifecycles: Vec<String>,
    pub customers: Vec<String>,
    pub classes: Vec<String>,
    pub tags: Vec<String>,
}

impl Selector {
    pub fn selects(&self, s: &Service) -> bool {
        fn any<T: PartialEq>(list: &[T], v: Option<&T>) -> bool {
            list.is_empty() || v.is_some_and(|v| list.contains(v))
        }
        any(&self.tiers, s.tier.as_ref())
            && any(&self.lifecycles, s.lifecycle.as_ref())
            && any(&self.customers, s.customer.as_ref())
            && any(&self.classes, s.class.as_ref())
            && self.tags.iter().all(|t| s.tags.contains(t))
    }
}

/// A `steward/v1` Policy: the services it selects must pass these checks and reach this
/// level.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadinessPolicy {
    pub name: String,
    pub selector: Selector,
    pub checks: Vec<String>,
    pub level: Option<Level>,
    /// Noise limits of its own (a field it leaves out keeps the default); where several
    /// policies set them, the strictest of each applies.
    pub noise: Option<NoiseLimits>,
    /// A check it requires that turns from pass to fail opens a ticket for the owning team.
    pub tickets: bool,
}

/// Where a service breaks a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub policy: String,
    pub service: String,
    /// The failing check, or `level`.
    pub check: String,
    pub message: String,
}

impl ReadinessPolicy {
    /// What `r` breaks of this policy; only checks `known` can judge are judged (the
    /// configuration alone cannot tell whether a runbook was rehearsed).
    pub fn violations(&self, r: &Readiness, known: impl Fn(&str) -> bool) -> Vec<Violation> {
        let mut out = Vec::new();
        for name in &self.checks {
            let Some(c) = r.check(name) else { continue };
            if !c.passed && known(name) {
                out.push(Violation {
                    policy: self.name.clone(),
                    service: r.service.clone(),
                    check: name.clone(),
                    message: format!(
                        "service `{}` fails check `{name}`, which policy `{}` requires: {}; fix: {}",
                        r.service,
                        self.name,
                        c.reason,
                        c.fix.as_deref().unwrap_or("")
                    ),
                });
            }
        }
        if let Some(level) = self.level {
            let missing: Vec<&str> = needs(level)
                .into_iter()
                .filter(|n| known(n) && r.check(n).is_some_and(|c| !c.passed))
                .collect();
            if !missing.is_empty() {
                out.push(Violation {
                    policy: self.name.clone(),
                    service: r.service.clone(),
                    check: "level".into(),
                    message: format!(
                        "service `{}` is below level {level}, which policy `{}` requires: it fails {}",
                        r.service,
                        self.name,
                        missing
                            .iter()
                            .map(|m| format!("`{m}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        out
    }
}

/// The times inside every list of gaps (each sorted, not overlapping): when no schedule has
/// anyone on call.
pub fn common_gaps(lists: &[Vec<(i64, i64)>]) -> Vec<(i64, i64)> {
    let Some((first, rest)) = lists.split_first() else {
        return Vec::new();
    };
    let mut out = first.clone();
    for list in rest {
        let mut next = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < out.len() && j < list.len() {
            let (a, b) = (out[i], list[j]);
            let (from, to) = (a.0.max(b.0), a.1.min(b.1));
            if from < to {
                next.push((from, to));
            }
            if a.1 < b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        out = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &'static str, passed: bool) -> Check {
        if passed {
            Check::pass(name, "ok")
        } else {
            Check::fail(name, "no", "do it")
        }
    }

    fn all_but(failing: &[&str]) -> Vec<Check> {
        CHECKS
            .iter()
            .map(|n| check(n, !failing.contains(n)))
            .collect()
    }

    #[test]
    fn the_level_is_the_highest_whose_checks_and_those_below_all_pass() {
        assert_eq!(Readiness::of("s", all_but(&[])).level, Level::Advanced);
        assert_eq!(Readiness::of("s", all_but(&[])).score, 100);
        let r = Readiness::of("s", all_but(&["evidence"]));
        assert_eq!((r.level, r.score), (Level::Intermediate, 92));
        let r = Readiness::of("s", all_but(&["owner"]));
        assert_eq!((r.level, r.score), (Level::Beginner, 92));
        // Advanced's checks passing does not lift a service over a failing intermediate one.
        let r = Readiness::of("s", all_but(&["runbooks", "owner", "slo"]));
        assert_eq!((r.level, r.score), (Level::Beginner, 75));
        assert_eq!(r.failing(), ["owner", "slo", "runbooks"]);
        assert_eq!(Readiness::of("s", all_but(&CHECKS)).score, 0);
    }

    #[test]
    fn every_check_belongs_to_exactly_one_level() {
        let mut all: Vec<&str> = needs(Level::Advanced);
        all.sort_unstable();
        let mut names = CHECKS.to_vec();
        names.sort_unstable();
        assert_eq!(all, names);
        assert!(needs(Level::Beginner).is_empty());
        assert_eq!(needs(Level::Intermediate).len(), 6);
    }

    #[test]
    fn worst_first_orders_by_level_then_score_then_name() {
        let mut l = vec![
            Readiness::of("b", all_but(&[])),
            Readiness::of("c", all_but(&["owner"])),
            Readiness::of("a", all_but(&["owner", "slo"])),
            Readiness::of("d", all_but(&["evidence"])),
        ];
        worst_first(&mut l);
        let order: Vec<&str> = l.iter().map(|r| r.service.as_str()).collect();
        assert_eq!(order, ["a", "c", "d", "b"]);
    }

    #[test]
    fn a_service_control_overrides_its_class_field_by_field() {
        let rule = |k: &str, d: i64| {
            Some(EvidenceRule {
                kind: k.into(),
                every: d * 86_400,
            })
        };
        let class = ServiceClass {
            name: "managed-database".into(),
            display_name: None,
            description: None,
            controls: vec![
                Control {
                    name: "backup-and-recovery".into(),
                    owner: Some(ControlOwner::Customer),
                    evidence: rule(RESTORE_DRILL, 90),
                },
                Control {
                    name: "patching".into(),
                    owner: Some(ControlOwner::Provider),
                    evidence: None,
                },
            ],
        };
        let own = [
            Control {
                name: "backup-and-recovery".into(),
                owner: None,
                evidence: rule(RESTORE_DRILL, 30),
            },
            Control {
                name: "data-retention".into(),
                owner: None,
                evidence: None,
            },
        ];
        let c = controls_of(Some(&class), &own);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].owner, Some(ControlOwner::Customer));
        assert_eq!(c[0].evidence, rule(RESTORE_DRILL, 30));
        assert_eq!(c[1], class.controls[1]);
        assert_eq!(c[2], own[1]);
        assert_eq!(controls_of(None, &[]), []);
    }

    #[test]
    fn common_gaps_are_the_times_no_list_covers() {
        let a = vec![(0, 10), (20, 30), (40, 50)];
        let b = vec![(5, 25), (45, 60)];
        assert_eq!(common_gaps(&[a.clone(), b]), [(5, 10), (20, 25), (45, 50)]);
        assert_eq!(common_gaps(std::slice::from_ref(&a)), a);
        assert_eq!(common_gaps(&[a, vec![]]), []);
        assert_eq!(common_gaps(&[]), []);
    }

    /// A simple reference: the instants (at a 1-unit grid) inside every list.
    #[test]
    fn common_gaps_agree_with_a_grid_reference_on_random_lists() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n) as i64
        };
        for _ in 0..500 {
            let lists: Vec<Vec<(i64, i64)>> = (0..1 + rand(3))
                .map(|_| {
                    let mut t = 0;
                    let mut l = Vec::new();
                    for _ in 0..rand(5) {
                        let from = t + rand(6);
                        let to = from + 1 + rand(6);
                        l.push((from, to));
                        t = to + 1;
                    }
                    l
                })
                .collect();
            let got = common_gaps(&lists);
            for x in 0..80 {
                let inside = |l: &[(i64, i64)]| l.iter().any(|(a, b)| *a <= x && x < *b);
                assert_eq!(
                    inside(&got),
                    lists.iter().all(|l| inside(l)),
                    "{lists:?} at {x}: {got:?}"
                );
            }
            assert!(got.windows(2).all(|w| w[0].1 <= w[1].0));
        }
    }

    #[test]
    fn noise_counts_by_hand() {
        let utc = jiff::tz::TimeZone::UTC;
        let ny = jiff::tz::TimeZone::get("America/New_York").unwrap();
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_second();
        let page = |t: &str, ack: Option<i64>, acted: bool, tz: &jiff::tz::TimeZone| Page {
            paged_at: at(t),
            acknowledged_at: ack.map(|a| at(t) + a),
            acted,
            time_zone: tz.clone(),
        };
        let pages = [
            // 23:30 UTC: night in UTC; 18:30 in New York: day.
            page("2026-11-02T23:30:00Z", Some(60), true, &utc),
            page("2026-11-02T23:30:00Z", Some(300), true, &ny),
            // 03:00 New York (08:00 UTC): night there.
            page("2026-11-03T08:00:00Z", None, false, &ny),
            // 07:00 sharp is day; 06:59 is night.
            page("2026-11-04T07:00:00Z", Some(120), true, &utc),
            page("2026-11-04T06:59:00Z", None, true, &utc),
        ];
        let n = noise(&pages);
        assert_eq!(n.pages, 5);
        assert_eq!(n.unacted, 1);
        assert_eq!(n.unacted_share, 0.2);
        assert_eq!(n.night, 3);
        assert_eq!(n.median_ack, Some(120));
        assert!((n.pages_per_week - 5.0 * 7.0 / 30.0).abs() < 1e-12);
        assert_eq!(noise(&pages[..2]).median_ack, Some(180));
        assert_eq!(noise(&[]).median_ack, None);
        assert_eq!(noise(&[]).unacted_share, 0.0);
    }
}

//! A blameless postmortem drafted from a resolved incident: summary, impact, timeline,
//! derived times, contributing factors (the changes near its start), what went well and
//! badly as the record shows it, and the action items. Markdown, for people to finish.

use super::IncidentView;
use steward_store::ActionItem;

/// What an incident cost one SLO.
#[derive(Clone, Debug, PartialEq)]
pub struct SloImpact {
    pub slo: String,
    /// Events (or slice units) judged bad during the incident, and all of them.
    pub bad: u64,
    pub total: u64,
    /// The bad ones as a share of the error budget of the SLO's window as it is now.
    pub budget_spent: Option<f64>,
}

fn when(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| t.to_string())
}

/// `1h 5m 3s`.
pub fn span(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

/// Text people (or alert sources) wrote, inert inside a Markdown table cell or list item:
/// what could open a code block, a link, an image, HTML, a heading, a quote or a list, or
/// break the table, is escaped; the rest reads as written.
pub fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let text = s.trim_start();
    // What starts a block only at the start of a line: escape it there.
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let lead = match text.as_bytes().get(digits) {
        Some(b'.' | b')') if digits > 0 => Some(digits),
        Some(b'#' | b'>' | b'-' | b'+' | b'*' | b'=') if digits == 0 => Some(0),
        _ => None,
    };
    for (i, c) in text.char_indices() {
        match c {
            '\r' | '\n' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if Some(i) == lead => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// The postmortem of a resolved incident, in Markdown.
pub fn markdown(
    v: &IncidentView,
    impact: &[SloImpact],
    items: &[ActionItem],
    generated_at: i64,
) -> String {
    let i = &v.incident;
    let d = v.durations;
    let mut md = format!(
        "# Postmortem: incident {} — {}\n\n_Blameless. Drafted by Steward from the incident's record at {}; edit it freely._\n\n",
        i.id,
        cell(&i.title),
        when(generated_at)
    );
    let by = |t: Option<i64>, who: &Option<String>| match t {
        Some(t) => format!("{} ({})", when(t), cell(who.as_deref().unwrap_or("?"))),
        None => "—".into(),
    };
    md.push_str("| | |\n|---|---|\n");
    md.push_str(&format!("| Severity | {} |\n", cell(&i.severity)));
    md.push_str(&format!("| Service | {} |\n", cell(&i.service)));
    if let Some(c) = &i.customer {
        md.push_str(&format!("| Customer | {} |\n", cell(c)));
    }
    md.push_str(&format!("| Started | {} |\n", when(i.started_at)));
    if let Some(t) = i.impact_started_at {
        md.push_str(&format!("| Impact started | {} |\n", when(t)));
    }
    md.push_str(&format!(
        "| Acknowledged | {} |\n| Mitigated | {} |\n| Resolved | {} |\n",
        by(i.acknowledged_at, &i.acknowledged_by),
        match (i.mitigated_at, i.resolved_at) {
            (None, Some(_)) => "not recorded (resolved without a separate mitigation)".into(),
            _ => by(i.mitigated_at, &i.mitigated_by),
        },
        by(i.resolved_at, &i.resolved_by),
    ));
    for r in &v.roles {
        md.push_str(&format!("| {} | {} |\n", cell(&r.role), cell(&r.person)));
    }

    md.push_str("\n## Summary\n\n");
    md.push_str(&format!("Incident {}: {}", i.id, cell(&i.title)));
    if let Some(u) = v.timeline.iter().rev().find(|e| e.kind == "status_update") {
        md.push_str(&format!(" Last status update: {}", cell(&u.summary)));
    }
    md.push_str("\n\n## Impact\n\n");
    let from = i.impact_started_at.unwrap_or(i.started_at);
    if let Some(end) = i.mitigated_at.or(i.resolved_at) {
        md.push_str(&format!(
            "- Users were affected for {} (from {} to {}).\n",
            span((end - from).max(0)),
            when(from),
            when(end)
        ));
    }
    md.push_str(&format!(
        "- {} alert{} joined the incident.\n",
        v.alerts.len(),
        if v.alerts.len() == 1 { "" } else { "s" }
    ));
    for s in impact {
        let spent = s.budget_spent.map_or(String::new(), |b| {
            format!(", {:.1}% of its error budget", b * 100.0)
        });
        md.push_str(&format!(
            "- SLO {}: {} of {} events bad during the incident{spent}.\n",
            cell(&s.slo),
            s.bad,
            s.total
        ));
    }

    md.push_str("\n## Timeline\n\n| Time | Kind | Who | What |\n|---|---|---|---|\n");
    for e in &v.timeline {
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            when(e.at),
            e.kind,
            cell(e.actor.as_deref().unwrap_or("")),
            cell(&e.summary)
        ));
    }

    md.push_str("\n## Derived times\n\n");
    let line =
        |name: &str, t: Option<i64>| format!("- {name}: {}\n", t.map_or("—".to_string(), span));
    md.push_str(&line("Time to detect", d.time_to_detect));
    md.push_str(&line("Time to acknowledge", d.time_to_acknowledge));
    md.push_str(&line("Time to mitigate", d.time_to_mitigate));
    md.push_str(&line("Time to resolve", d.time_to_resolve));

    md.push_str("\n## Contributing factors\n\n");
    let changes: Vec<_> = v
        .timeline
        .iter()
        .filter(|e| e.kind == "change" && e.at <= i.started_at)
        .collect();
    if changes.is_empty() {
        md.push_str("- No change to the service or what it depends on in the hour before the start. _Add what contributed._\n");
    } else {
        for c in changes {
            md.push_str(&format!("- {} at {}\n", cell(&c.summary), when(c.at)));
        }
    }

    md.push_str("\n## What went well\n\n");
    let mut well = Vec::new();
    if let Some(t) = d.time_to_acknowledge.filter(|t| *t <= 300) {
        well.push(format!("Acknowledged within {}.", span(t)));
    }
    let runs = v
        .timeline
        .iter()
        .filter(|e| e.kind == "runbook_run")
        .count();
    if runs > 0 {
        well.push(format!("A runbook ran {runs} time(s)."));
    }
    md.push_str(&bullets(&well));

    md.push_str("\n## What went badly\n\n");
    let mut badly = Vec::new();
    let failed = v
        .timeline
        .iter()
        .filter(|e| e.kind == "notification_failed")
        .count();
    if failed > 0 {
        badly.push(format!("{failed} notification(s) could not be delivered."));
    }
    for e in v
        .timeline
        .iter()
        .filter(|e| e.kind == "alert_unreachable" || e.kind == "alert_uncovered")
    {
        badly.push(cell(&e.summary));
    }
    if let Some(t) = d.time_to_acknowledge.filter(|t| *t > 300) {
        badly.push(format!("Acknowledged only after {}.", span(t)));
    }
    md.push_str(&bullets(&badly));

    md.push_str("\n## Action items\n\n");
    if items.is_empty() {
        md.push_str("_None yet._\n");
    } else {
        md.push_str("| # | Item | Owner | Due | Status |\n|---|---|---|---|---|\n");
        for a in items {
            let status = match &a.verified {
                Some(v) => format!("closed: {}", cell(v)),
                None => a.status.clone(),
            };
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                a.id,
                cell(&a.title),
                cell(&a.owner),
                a.due_at.map_or("—".into(), when),
                status
            ));
        }
    }
    md
}

fn bullets(lines: &[String]) -> String {
    if lines.is_empty() {
        return "- _To be written._\n".into();
    }
    lines.iter().map(|l| format!("- {l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_people_and_alert_sources_cannot_open_markdown_blocks_links_or_images() {
        assert_eq!(
            cell("```\n# x ![](https://evil/p) [a](b) <script> | *y* checkout-availability 1.5x"),
            r"\`\`\` # x !\[\](https://evil/p) \[a\](b) &lt;script> \| *y* checkout-availability 1.5x"
        );
        assert_eq!(cell("# heading"), r"\# heading");
        assert_eq!(cell("12. item"), r"12\. item");
        assert_eq!(cell("- item"), r"\- item");
        assert_eq!(span(0), "0s");
        assert_eq!(span(3725), "1h 2m 5s");
    }
}

//! Runbooks: for a known failure mode of a service, the symptoms, the checks, the remediation
//! steps (some executable, with guards) and the line at which a human is paged.

use crate::matcher::{all_match, Labels, Matcher};

/// One argument of a program a step runs: text as written, or the value of an alert label,
/// always as one whole argument. Nothing reaches a shell, so a label such as `x; rm -rf /`
/// is one harmless argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    Text(String),
    Label(String),
}

/// What an executable step does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A program (an absolute path) and its arguments, run without a shell.
    Program { program: String, args: Vec<Arg> },
    /// An HTTP request; the body, when not given, is the run as JSON (runbook, step, labels).
    Http {
        method: String,
        url: String,
        body: Option<String>,
    },
}

impl Action {
    /// The program's argument list for an alert's labels; a label the alert lacks is an
    /// error (a step never runs with a hole in its arguments).
    pub fn argv(&self, labels: &Labels) -> Result<Vec<String>, String> {
        let Action::Program { program, args } = self else {
            return Ok(Vec::new());
        };
        let mut out = vec![program.clone()];
        for a in args {
            out.push(match a {
                Arg::Text(t) => t.clone(),
                Arg::Label(l) => {
                    let v = labels
                        .get(l)
                        .ok_or_else(|| format!("the alert has no label `{l}`"))?;
                    // A value that reads as an option (`-Hhost`, `--kubeconfig=…`) would be
                    // one to the program: refused, as is one with control characters.
                    if v.starts_with('-') {
                        return Err(format!(
                            "label `{l}` starts with `-`, which the program would read as an option"
                        ));
                    }
                    if v.chars().any(char::is_control) {
                        return Err(format!("label `{l}` holds a control character"));
                    }
                    v.clone()
                }
            });
        }
        Ok(out)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunbookStep {
    pub name: String,
    pub description: Option<String>,
    /// `None`: a step for a person to do.
    pub action: Option<Action>,
    /// A person with the right to approve must approve each run of this step.
    pub approval: bool,
    /// Seconds a run of the step may take before it is stopped.
    pub timeout: i64,
}

/// The line at which a human is paged: after this long without mitigation, or when a step
/// fails; through this escalation policy (else the service's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EscalationLine {
    pub after: Option<i64>,
    pub on_failure: bool,
    pub policy: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Runbook {
    pub name: String,
    pub service: String,
    pub failure_mode: Option<String>,
    /// The alerts it answers: those of its service whose labels match all of these.
    pub alerts: Vec<Matcher>,
    pub symptoms: Vec<String>,
    pub checks: Vec<String>,
    pub steps: Vec<RunbookStep>,
    pub escalate: EscalationLine,
    /// Runs by itself (its steps that need no approval) on an alert it answers.
    pub automatic: bool,
    /// The circuit breaker: at most this many runs in any hour; then runs stop and a human
    /// is paged.
    pub max_runs_per_hour: u32,
    /// Who may approve steps that need approval.
    pub approvers: Vec<String>,
    /// Seconds a rehearsal stays fresh (`rehearse: {every: 30d}`; 90 days unless set).
    pub rehearse_every: i64,
}

/// How long a rehearsal stays fresh unless the runbook says.
pub const REHEARSE_EVERY: i64 = 90 * 86_400;

impl Runbook {
    /// Whether this runbook answers an alert of `service` with these labels.
    pub fn answers(&self, service: Option<&str>, labels: &Labels) -> bool {
        service == Some(self.service.as_str()) && all_match(&self.alerts, labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_become_whole_arguments_and_a_missing_label_is_an_error() {
        let a = Action::Program {
            program: "/usr/bin/systemctl".into(),
            args: vec![Arg::Text("restart".into()), Arg::Label("unit".into())],
        };
        let labels = Labels::from([("unit".to_string(), "x; rm -rf / $(id)".to_string())]);
        assert_eq!(
            a.argv(&labels).unwrap(),
            ["/usr/bin/systemctl", "restart", "x; rm -rf / $(id)"]
        );
        assert_eq!(
            a.argv(&Labels::new()).unwrap_err(),
            "the alert has no label `unit`"
        );
        let option = Labels::from([("unit".to_string(), "-Hattacker".to_string())]);
        assert_eq!(
            a.argv(&option).unwrap_err(),
            "label `unit` starts with `-`, which the program would read as an option"
        );
        let newline = Labels::from([("unit".to_string(), "a\nb".to_string())]);
        assert_eq!(
            a.argv(&newline).unwrap_err(),
            "label `unit` holds a control character"
        );
    }
}

//! Escalation policies: ordered steps, each notifying its targets and then waiting its delay
//! before the next; after the last step the policy starts over, `repeat` more times.

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    User(String),
    Schedule(String),
    Webhook(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Seconds to wait after notifying this step before the next one.
    pub delay: i64,
    pub targets: Vec<Target>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EscalationPolicy {
    pub name: String,
    pub steps: Vec<Step>,
    /// How many more times the whole policy runs after the first.
    pub repeat: u32,
}

impl EscalationPolicy {
    /// After step `step` of round `round` notified at `at`: the next step, its round and
    /// when it is due; `None` when the policy is exhausted.
    pub fn next(&self, step: usize, round: u32, at: i64) -> Option<(usize, u32, i64)> {
        let delay = self.steps.get(step)?.delay;
        let due = at.saturating_add(delay);
        if step + 1 < self.steps.len() {
            Some((step + 1, round, due))
        } else if round < self.repeat {
            Some((0, round + 1, due))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_follow_each_other_after_their_delays_and_the_policy_repeats() {
        let p = EscalationPolicy {
            name: "p".into(),
            steps: vec![
                Step {
                    delay: 300,
                    targets: vec![Target::Schedule("primary".into())],
                },
                Step {
                    delay: 600,
                    targets: vec![Target::User("boss".into())],
                },
            ],
            repeat: 1,
        };
        assert_eq!(p.next(0, 0, 1000), Some((1, 0, 1300)));
        assert_eq!(p.next(1, 0, 1300), Some((0, 1, 1900)));
        assert_eq!(p.next(0, 1, 1900), Some((1, 1, 2200)));
        assert_eq!(p.next(1, 1, 2200), None);
        assert_eq!(p.next(7, 0, 0), None);
    }
}

//! Label matchers, as Alertmanager writes them: `name=value`, `name!=value`, `name=~regex`,
//! `name!~regex`. Regexes are anchored at both ends, and a missing label matches as the empty
//! string, so `team!=""` selects alerts that have a team.

use std::collections::BTreeMap;
use std::fmt;

pub type Labels = BTreeMap<String, String>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    Eq,
    Ne,
    Re,
    NotRe,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Ne => "!=",
            MatchOp::Re => "=~",
            MatchOp::NotRe => "!~",
        }
    }

    pub fn is_regex(self) -> bool {
        matches!(self, MatchOp::Re | MatchOp::NotRe)
    }

    pub fn is_equal(self) -> bool {
        matches!(self, MatchOp::Eq | MatchOp::Re)
    }

    /// From Alertmanager's `isRegex` and `isEqual` flags.
    pub fn from_flags(is_regex: bool, is_equal: bool) -> MatchOp {
        match (is_regex, is_equal) {
            (false, true) => MatchOp::Eq,
            (false, false) => MatchOp::Ne,
            (true, true) => MatchOp::Re,
            (true, false) => MatchOp::NotRe,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<regex::Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Matcher) -> bool {
        (&self.name, self.op, &self.value) == (&other.name, other.op, &other.value)
    }
}

/// Regexes longer than this are refused: a matcher is a line of config, not a program.
pub const MAX_REGEX: usize = 4096;

impl Matcher {
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Matcher, String> {
        if name.is_empty() {
            return Err("a matcher needs a label name".into());
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "`{name}` is not a label name; use letters, digits and underscores"
            ));
        }
        let regex = if op.is_regex() {
            if value.len() > MAX_REGEX {
                return Err(format!(
                    "the regex of `{name}` is {} bytes; at most {MAX_REGEX}",
                    value.len()
                ));
            }
            Some(
                regex::RegexBuilder::new(&format!("^(?:{value})$"))
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| format!("the regex of `{name}` is invalid: {e}"))?,
            )
        } else {
            None
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            regex,
        })
    }

    /// Reads `name=value`, `name!="value"`, `name=~"re"` or `name!~re`.
    pub fn parse(text: &str) -> Result<Matcher, String> {
        let text = text.trim();
        let at = text
            .find(['=', '!'])
            .ok_or_else(|| format!("`{text}` is not a matcher; write name=value, name!=value, name=~regex or name!~regex"))?;
        let (name, rest) = text.split_at(at);
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (MatchOp::Re, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (MatchOp::NotRe, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (MatchOp::Ne, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (MatchOp::Eq, v)
        } else {
            return Err(format!(
                "`{text}` is not a matcher; the operator is one of = != =~ !~"
            ));
        };
        let value = value.trim();
        let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(v) => v.replace("\\\"", "\"").replace("\\\\", "\\"),
            None => value.to_string(),
        };
        Matcher::new(name.trim(), op, &value)
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        let v = labels.get(&self.name).map_or("", String::as_str);
        match (self.op, &self.regex) {
            (MatchOp::Eq, _) => v == self.value,
            (MatchOp::Ne, _) => v != self.value,
            (MatchOp::Re, Some(re)) => re.is_match(v),
            (MatchOp::NotRe, Some(re)) => !re.is_match(v),
            (_, None) => false,
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

/// Whether every matcher matches (an empty list matches everything).
pub fn all_match(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_operator_matches_as_alertmanager_does() {
        let l = labels(&[("service", "checkout"), ("severity", "page")]);
        let cases = [
            ("service=checkout", true),
            ("service=\"checkout\"", true),
            ("service!=checkout", false),
            ("service=~check.*", true),
            ("service=~check", false), // anchored: a prefix is not a match
            ("service!~\"pay|search\"", true),
            ("team=\"\"", true), // a missing label is the empty string
            ("team!=\"\"", false),
            ("severity=~\"page|ticket\"", true),
        ];
        for (text, want) in cases {
            let m = Matcher::parse(text).unwrap();
            assert_eq!(m.matches(&l), want, "{text}");
        }
    }

    #[test]
    fn bad_matchers_are_errors_that_say_what_is_wrong() {
        assert_eq!(
            Matcher::parse("service").unwrap_err(),
            "`service` is not a matcher; write name=value, name!=value, name=~regex or name!~regex"
        );
        assert!(Matcher::parse("service=~(")
            .unwrap_err()
            .starts_with("the regex of `service` is invalid"));
        assert_eq!(
            Matcher::parse("=x").unwrap_err(),
            "a matcher needs a label name"
        );
        assert_eq!(
            Matcher::parse("a-b=x").unwrap_err(),
            "`a-b` is not a label name; use letters, digits and underscores"
        );
    }

    #[test]
    fn flags_round_trip() {
        for op in [MatchOp::Eq, MatchOp::Ne, MatchOp::Re, MatchOp::NotRe] {
            assert_eq!(MatchOp::from_flags(op.is_regex(), op.is_equal()), op);
        }
    }
}

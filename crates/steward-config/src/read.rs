//! Typed reading of YAML nodes: each reader reports what it expected, where, and moves on,
//! so that one file yields all of its errors.

use crate::diag::{Diagnostics, Loc};
use crate::yaml::{Mark, Node, Value};
use std::sync::Arc;

/// The file being read and the diagnostics collected so far.
pub struct Reader<'d> {
    pub file: Arc<str>,
    pub diags: &'d mut Diagnostics,
}

impl Reader<'_> {
    pub fn loc(&self, mark: Mark) -> Loc {
        Loc {
            file: self.file.clone(),
            mark,
        }
    }

    pub fn error(&mut self, mark: Mark, message: impl Into<String>) {
        let loc = self.loc(mark);
        self.diags.error(loc, message);
    }

    pub fn warn(&mut self, mark: Mark, message: impl Into<String>) {
        let loc = self.loc(mark);
        self.diags.warn(loc, message);
    }

    /// Opens a mapping; `what` names it in messages ("SLO spec").
    pub fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<Fields<'n>> {
        let Value::Map(entries) = &node.value else {
            self.error(
                node.mark,
                format!("{what} must be a mapping, found {}", node.kind_name()),
            );
            return None;
        };
        let mut seen: Vec<&str> = Vec::new();
        for (k, _) in entries {
            if let Value::Scalar { text, .. } = &k.value {
                if seen.contains(&text.as_str()) {
                    self.error(k.mark, format!("`{text}` is given twice in {what}"));
                }
                seen.push(text);
            }
        }
        Some(Fields {
            what: what.to_string(),
            mark: node.mark,
            entries,
            used: vec![false; entries.len()],
            known: Vec::new(),
        })
    }

    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Scalar { text, .. } => Some(text.clone()),
            _ => {
                self.error(
                    node.mark,
                    format!("{what} must be a string, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    pub fn number(&mut self, node: &Node, what: &str) -> Option<f64> {
        if let Value::Scalar {
            text,
            quoted: false,
        } = &node.value
        {
            if let Ok(n) = text.parse::<f64>() {
                if n.is_finite() {
                    return Some(n);
                }
            }
        }
        self.error(
            node.mark,
            format!("{what} must be a number, found {}", describe(node)),
        );
        None
    }

    pub fn integer(&mut self, node: &Node, what: &str) -> Option<i64> {
        if let Value::Scalar {
            text,
            quoted: false,
        } = &node.value
        {
            if let Ok(n) = text.parse::<i64>() {
                return Some(n);
            }
        }
        self.error(
            node.mark,
            format!("{what} must be a whole number, found {}", describe(node)),
        );
        None
    }

    pub fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        if let Value::Scalar {
            text,
            quoted: false,
        } = &node.value
        {
            match text.as_str() {
                "true" | "True" | "TRUE" => return Some(true),
                "false" | "False" | "FALSE" => return Some(false),
                _ => {}
            }
        }
        self.error(
            node.mark,
            format!("{what} must be true or false, found {}", describe(node)),
        );
        None
    }

    pub fn list<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            _ => {
                self.error(
                    node.mark,
                    format!("{what} must be a list, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    /// A list of strings.
    pub fn strings(&mut self, node: &Node, what: &str) -> Vec<(String, Mark)> {
        let Some(items) = self.list(node, what) else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|n| {
                self.string(n, &format!("each entry of {what}"))
                    .map(|s| (s, n.mark))
            })
            .collect()
    }
}

/// `a scalar `x``, or the node's kind, for messages.
pub fn describe(node: &Node) -> String {
    match &node.value {
        Value::Scalar { text, .. } => format!("`{text}`"),
        _ => node.kind_name().to_string(),
    }
}

/// The fields of one mapping. Every field the code asks for is known; whatever is left when
/// [`Fields::finish`] runs is an unknown field, and an error.
pub struct Fields<'n> {
    what: String,
    pub mark: Mark,
    entries: &'n [(Node, Node)],
    used: Vec<bool>,
    known: Vec<&'static str>,
}

impl<'n> Fields<'n> {
    /// The value of `key`; an explicit null counts as absent.
    pub fn get(&mut self, key: &'static str) -> Option<&'n Node> {
        self.known.push(key);
        let i = self
            .entries
            .iter()
            .position(|(k, _)| matches!(&k.value, Value::Scalar { text, .. } if text == key))?;
        self.used[i] = true;
        let value = &self.entries[i].1;
        (value.value != Value::Null).then_some(value)
    }

    /// Whether `key` is written at all, even with an empty value.
    pub fn present(&mut self, key: &'static str) -> bool {
        self.get(key);
        self.entries
            .iter()
            .any(|(k, _)| matches!(&k.value, Value::Scalar { text, .. } if text == key))
    }

    pub fn required(&mut self, r: &mut Reader<'_>, key: &'static str) -> Option<&'n Node> {
        let v = self.get(key);
        if v.is_none() {
            r.error(self.mark, format!("{} is missing `{key}`", self.what));
        }
        v
    }

    /// Reports every field nobody asked for.
    pub fn finish(self, r: &mut Reader<'_>) {
        for ((key, _), used) in self.entries.iter().zip(&self.used) {
            if !used {
                let mut known = self.known.clone();
                known.sort_unstable();
                known.dedup();
                r.error(
                    key.mark,
                    format!(
                        "unknown field {} in {}; expected one of: {}",
                        describe(key),
                        self.what,
                        known.join(", ")
                    ),
                );
            }
        }
    }
}

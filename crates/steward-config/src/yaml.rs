//! A YAML tree that remembers where every node was written (line and column), so that every
//! configuration error can point at its source.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based position in a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    pub line: usize,
    pub col: usize,
}

impl From<Marker> for Mark {
    fn from(m: Marker) -> Mark {
        Mark {
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub mark: Mark,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `~`, `null` or nothing at all.
    Null,
    /// A scalar, as written; `quoted` scalars are always strings.
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// A short word for what the node is, for "expected X, found Y" messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "nothing",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// The largest configuration file read, in bytes.
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;
/// The most nodes one file may expand to, aliases counted at their full size: a few hundred
/// bytes of nested aliases must not become gigabytes ("billion laughs").
pub const MAX_NODES: usize = 1_000_000;
/// The deepest nesting of lists and mappings.
pub const MAX_DEPTH: usize = 64;

/// Parses every document of a YAML stream.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, (Mark, String)> {
    if text.len() > MAX_FILE_BYTES {
        return Err((
            Mark { line: 1, col: 1 },
            format!(
                "the file is {} bytes, more than the {MAX_FILE_BYTES} Steward reads; split it into several files",
                text.len()
            ),
        ));
    }
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut builder, true)
        .map_err(|e| (Mark::from(*e.marker()), e.info().to_string()))?;
    match builder.error {
        Some(e) => Err(e),
        None => Ok(builder.docs),
    }
}

#[derive(Default)]
struct Builder {
    docs: Vec<Node>,
    /// Open collections: the node and, for mappings, a key waiting for its value.
    stack: Vec<(Node, Option<Node>, usize)>,
    /// Anchored nodes and how many nodes each expands to.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes built so far, aliases counted at their full size.
    nodes: usize,
    /// The first limit exceeded; once set, further events are ignored.
    error: Option<(Mark, String)>,
}

/// How many nodes a tree holds.
fn size_of(node: &Node) -> usize {
    match &node.value {
        Value::Null | Value::Scalar { .. } => 1,
        Value::Seq(items) => 1 + items.iter().map(size_of).sum::<usize>(),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| size_of(k) + size_of(v))
                .sum::<usize>()
        }
    }
}

impl Builder {
    /// Counts `n` more nodes; false (and the error set) once past [`MAX_NODES`].
    fn count(&mut self, n: usize, mark: Mark) -> bool {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            self.error = Some((
                mark,
                format!("the document expands to more than {MAX_NODES} values (through aliases or sheer size); Steward reads no more of it"),
            ));
            return false;
        }
        true
    }

    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            let size = size_of(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some((parent, pending_key, _)) => match &mut parent.value {
                Value::Seq(items) => items.push(node),
                Value::Map(entries) => match pending_key.take() {
                    None => *pending_key = Some(node),
                    Some(key) => entries.push((key, node)),
                },
                _ => {}
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, marker: Marker) {
        let mark = Mark::from(marker);
        if self.error.is_some() {
            return;
        }
        let opens = matches!(ev, Event::SequenceStart(..) | Event::MappingStart(..));
        if opens && self.stack.len() >= MAX_DEPTH {
            self.error = Some((
                mark,
                format!("lists and mappings are nested more than {MAX_DEPTH} deep; Steward's documents never need that"),
            ));
            return;
        }
        let adds = match &ev {
            Event::Alias(id) => self.anchors.get(id).map_or(1, |(_, size)| *size),
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..) => 1,
            _ => 0,
        };
        if !self.count(adds, mark) {
            return;
        }
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let quoted = !matches!(style, TScalarStyle::Plain);
                let value =
                    if !quoted && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL") {
                        Value::Null
                    } else {
                        Value::Scalar { text, quoted }
                    };
                self.push_value(Node { value, mark }, anchor);
            }
            Event::SequenceStart(anchor, _) => self.stack.push((
                Node {
                    value: Value::Seq(Vec::new()),
                    mark,
                },
                None,
                anchor,
            )),
            Event::MappingStart(anchor, _) => self.stack.push((
                Node {
                    value: Value::Map(Vec::new()),
                    mark,
                },
                None,
                anchor,
            )),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((node, _, anchor)) = self.stack.pop() {
                    self.push_value(node, anchor);
                }
            }
            Event::Alias(id) => {
                let node = self
                    .anchors
                    .get(&id)
                    .map(|(n, _)| n.clone())
                    .unwrap_or(Node {
                        value: Value::Null,
                        mark,
                    });
                self.push_value(node, 0);
            }
            Event::DocumentEnd
            | Event::DocumentStart
            | Event::StreamStart
            | Event::StreamEnd
            | Event::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_one_based_lines_and_columns() {
        let docs = parse_documents("a: 1\nb:\n  - x\n---\nc: 'q'\n").unwrap();
        assert_eq!(docs.len(), 2);
        let Value::Map(entries) = &docs[0].value else {
            panic!("not a map")
        };
        assert_eq!(entries[1].0.mark, Mark { line: 2, col: 1 });
        let Value::Seq(items) = &entries[1].1.value else {
            panic!("not a seq")
        };
        assert_eq!(items[0].mark, Mark { line: 3, col: 5 });
    }

    /// Problem 4 of the spine issue: 400 bytes of nested aliases took 4 GB.
    #[test]
    fn nested_aliases_stop_at_the_node_limit() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(text.len() < 1000);
        let (mark, msg) = parse_documents(&text).unwrap_err();
        assert!(msg.contains("more than 1000000 values"), "{msg}");
        assert_eq!(mark.line, 6);
    }

    #[test]
    fn deep_nesting_is_refused_with_its_position() {
        let text = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let (mark, msg) = parse_documents(&text).unwrap_err();
        assert!(msg.contains("nested more than 64 deep"), "{msg}");
        assert_eq!(mark, Mark { line: 1, col: 65 });
    }

    #[test]
    fn syntax_error_has_a_position() {
        let (mark, msg) = parse_documents("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(mark.line >= 1, "{mark:?}");
        assert!(!msg.is_empty());
    }
}

//! Configuration errors and warnings, each tied to a place in a file.

use crate::yaml::Mark;
use std::fmt;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
}

/// Where something was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loc {
    pub file: Arc<str>,
    pub mark: Mark,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub level: Level,
    pub loc: Loc,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: message`, with `warning: ` before warnings' messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match self.level {
            Level::Error => "",
            Level::Warning => "warning: ",
        };
        write!(
            f,
            "{}:{}:{}: {prefix}{}",
            self.loc.file, self.loc.mark.line, self.loc.mark.col, self.message
        )
    }
}

/// Collects diagnostics so that a user sees every problem at once, not only the first.
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn error(&mut self, loc: Loc, message: impl Into<String>) {
        self.items.push(Diagnostic {
            level: Level::Error,
            loc,
            message: message.into(),
        });
    }

    pub fn warn(&mut self, loc: Loc, message: impl Into<String>) {
        self.items.push(Diagnostic {
            level: Level::Warning,
            loc,
            message: message.into(),
        });
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.level == Level::Error)
    }
}

//! Whole-second durations written in the OpenSLO shorthand (`5m`, `1h`, `28d`, `2w`).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    secs: i64,
}

impl Duration {
    pub const fn from_secs(secs: i64) -> Duration {
        Duration { secs }
    }
    pub const fn minutes(m: i64) -> Duration {
        Duration { secs: m * 60 }
    }
    pub const fn hours(h: i64) -> Duration {
        Duration { secs: h * 3600 }
    }
    pub const fn days(d: i64) -> Duration {
        Duration { secs: d * 86_400 }
    }
    pub const fn secs(self) -> i64 {
        self.secs
    }
    pub fn hours_f64(self) -> f64 {
        self.secs as f64 / 3600.0
    }
}

impl fmt::Display for Duration {
    /// The largest unit that divides the duration exactly: `30d`, `6h`, `5m`, `90s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.secs;
        for (unit, len) in [("d", 86_400), ("h", 3600), ("m", 60)] {
            if s != 0 && s % len == 0 {
                return write!(f, "{}{unit}", s / len);
            }
        }
        write!(f, "{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_in_the_largest_exact_unit() {
        assert_eq!(Duration::days(30).to_string(), "30d");
        assert_eq!(Duration::days(14).to_string(), "14d");
        assert_eq!(Duration::hours(6).to_string(), "6h");
        assert_eq!(Duration::minutes(90).to_string(), "90m");
        assert_eq!(Duration::from_secs(5).to_string(), "5s");
        assert_eq!(Duration::from_secs(0).to_string(), "0s");
    }
}

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

    /// `90s`, `5m`, `2h`, `1d`, `1w`: a positive whole number and a unit, at most a year.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let bad = || {
            format!("`{text}` is not a duration; write a whole number and s, m, h, d or w, e.g. 2h")
        };
        let unit_at = text
            .len()
            .checked_sub(1)
            .filter(|_| text.is_char_boundary(text.len() - 1))
            .ok_or_else(bad)?;
        let (num, unit) = text.split_at(unit_at);
        let n: i64 = num
            .parse()
            .ok()
            .filter(|n| *n > 0 && !num.starts_with(['+', '0']))
            .ok_or_else(bad)?;
        let len = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => return Err(bad()),
        };
        n.checked_mul(len)
            .filter(|s| *s <= 366 * 86_400)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("`{text}` is longer than a year"))
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

    #[test]
    fn parses_short_durations_and_refuses_the_rest() {
        assert_eq!(Duration::parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(Duration::parse("2h"), Ok(Duration::hours(2)));
        assert_eq!(Duration::parse("1w"), Ok(Duration::days(7)));
        for bad in ["", "h", "0h", "-1h", "+1h", "1.5h", "2y", "日", "1日"] {
            assert!(Duration::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Duration::parse("9999d").unwrap_err(),
            "`9999d` is longer than a year"
        );
    }
}

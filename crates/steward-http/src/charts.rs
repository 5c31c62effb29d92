//! Charts drawn by Steward as SVG on the server: accessible (a title, labelled axes, a text
//! alternative that says what the picture shows) and correct at the edges (no data, one
//! point, values at exactly 0 % and 100 %, a window still filling).

use crate::page::esc;
use std::fmt::Write;

/// A line over time: one series, optional horizontal thresholds, a fixed y range.
pub struct LineChart<'a> {
    /// What the chart shows ("error budget remaining over the window").
    pub title: &'a str,
    pub y_label: &'a str,
    /// The window the x axis spans, whether or not data covers it (unix seconds).
    pub from: i64,
    pub to: i64,
    /// (time, value), in time order.
    pub points: &'a [(i64, f64)],
    /// The y range drawn; values outside it are drawn at its edge.
    pub y_min: f64,
    pub y_max: f64,
    /// Formats a y value for labels and the text alternative ("43 %").
    pub y_format: fn(f64) -> String,
    /// Horizontal lines: (value, label) — a threshold, the zero line.
    pub marks: &'a [(f64, &'a str)],
    /// The time zone times are labelled in (named on the axis).
    pub zone: &'a jiff::tz::TimeZone,
}

const W: f64 = 480.0;
const H: f64 = 160.0;
/// Room for the y labels (left) and the x labels (below).
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 8.0;
const RIGHT: f64 = 8.0;

fn local(t: i64, zone: &jiff::tz::TimeZone, format: &str) -> String {
    jiff::Timestamp::from_second(t)
        .map(|ts| ts.to_zoned(zone.clone()).strftime(format).to_string())
        .unwrap_or_default()
}

/// A percentage with as many decimals as it needs to say something (99.95 %, 100 %, 0 %).
pub fn percent(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let p = v * 100.0;
    let s = if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}")
    } else if (p * 10.0 - (p * 10.0).round()).abs() < 1e-9 {
        format!("{p:.1}")
    } else {
        format!("{p:.2}")
    };
    format!("{s} %")
}

pub fn line_chart(c: &LineChart<'_>) -> String {
    let (from, to) = (c.from, c.to.max(c.from + 1));
    let (lo, hi) = if c.y_max > c.y_min {
        (c.y_min, c.y_max)
    } else {
        (c.y_min - 1.0, c.y_min + 1.0)
    };
    let x =
        |t: i64| LEFT + (t.clamp(from, to) - from) as f64 / (to - from) as f64 * (W - LEFT - RIGHT);
    let y = |v: f64| {
        let v = if v.is_finite() { v.clamp(lo, hi) } else { lo };
        TOP + (1.0 - (v - lo) / (hi - lo)) * (H - TOP - BOTTOM)
    };
    let zone_name = c.zone.iana_name().unwrap_or("UTC");
    let points: Vec<(i64, f64)> = c
        .points
        .iter()
        .copied()
        .filter(|(t, v)| v.is_finite() && (from..=to).contains(t))
        .collect();
    let alt = describe(c, &points);
    let mut svg = String::new();
    let id = format!("c{:x}", fnv(c.title));
    let _ = write!(
        svg,
        r#"<figure class="chart"><svg viewBox="0 0 {W} {H}" role="img" aria-labelledby="{id}-t {id}-d"><title id="{id}-t">{title}</title><desc id="{id}-d">{desc}</desc>"#,
        title = esc(c.title),
        desc = esc(&alt),
    );
    // Axes: y at its bounds, x at the window's ends, each labelled.
    let (x0, x1, y0, y1) = (LEFT, W - RIGHT, y(hi), y(lo));
    let _ = write!(
        svg,
        r#"<g class="axis"><line x1="{x0}" y1="{y0:.1}" x2="{x0}" y2="{y1:.1}"/><line x1="{x0}" y1="{y1:.1}" x2="{x1}" y2="{y1:.1}"/><text x="{tx:.1}" y="{ty0:.1}" text-anchor="end">{hi_l}</text><text x="{tx:.1}" y="{ty1:.1}" text-anchor="end">{lo_l}</text><text x="{x0}" y="{H}" dy="-4">{from_l}</text><text x="{x1}" y="{H}" dy="-4" text-anchor="end">{to_l}</text><text class="label" x="12" y="{mid:.1}" transform="rotate(-90 12 {mid:.1})" text-anchor="middle">{y_label}</text><text class="label" x="{xmid:.1}" y="{H}" dy="-4" text-anchor="middle">time ({zone})</text></g>"#,
        tx = LEFT - 4.0,
        ty0 = y0 + 4.0,
        ty1 = y1,
        hi_l = esc(&(c.y_format)(hi)),
        lo_l = esc(&(c.y_format)(lo)),
        from_l = esc(&local(from, c.zone, "%b %-d %H:%M")),
        to_l = esc(&local(to, c.zone, "%b %-d %H:%M")),
        mid = (y0 + y1) / 2.0,
        y_label = esc(c.y_label),
        xmid = (x0 + x1) / 2.0,
        zone = esc(zone_name),
    );
    for (v, label) in c.marks {
        if !(lo..=hi).contains(v) {
            continue;
        }
        let _ = write!(
            svg,
            r#"<g class="mark"><line x1="{x0}" x2="{x1}" y1="{yy:.1}" y2="{yy:.1}" stroke-dasharray="4 3"/><text x="{x1}" y="{ty:.1}" text-anchor="end">{l}</text></g>"#,
            yy = y(*v),
            ty = y(*v) - 3.0,
            l = esc(label)
        );
    }
    match points.as_slice() {
        [] => {
            let _ = write!(
                svg,
                r#"<text class="empty" x="{xm:.1}" y="{ym:.1}" text-anchor="middle">no data in this window</text>"#,
                xm = (x0 + x1) / 2.0,
                ym = (y0 + y1) / 2.0
            );
        }
        [(t, v)] => {
            let _ = write!(
                svg,
                r#"<circle class="series" cx="{:.1}" cy="{:.1}" r="3"/>"#,
                x(*t),
                y(*v)
            );
        }
        many => {
            let mut line = String::new();
            for (t, v) in many {
                let _ = write!(line, "{:.1},{:.1} ", x(*t), y(*v));
            }
            let _ = write!(
                svg,
                r#"<polyline class="series" fill="none" stroke-width="2" points="{}"/>"#,
                line.trim_end()
            );
        }
    }
    // A window still filling: where the data begins is marked, not left as a blank.
    if let Some((first, _)) = points.first() {
        if *first > from + (to - from) / 100 {
            let _ = write!(
                svg,
                r#"<g class="filling"><line x1="{fx:.1}" x2="{fx:.1}" y1="{y0:.1}" y2="{y1:.1}" stroke-dasharray="2 2"/><text x="{tx:.1}" y="{ty:.1}">data from {l}</text></g>"#,
                fx = x(*first),
                tx = x(*first) + 3.0,
                ty = y0 + 10.0,
                l = esc(&local(*first, c.zone, "%b %-d %H:%M"))
            );
        }
    }
    svg.push_str("</svg>");
    // The same words for sighted readers; screen readers have them from the image already.
    let _ = write!(
        svg,
        r#"<figcaption class="alt" aria-hidden="true">{}</figcaption></figure>"#,
        esc(&alt)
    );
    svg
}

/// The text alternative: what a reader of the chart would take from it.
fn describe(c: &LineChart<'_>, points: &[(i64, f64)]) -> String {
    let zone = c.zone.iana_name().unwrap_or("UTC");
    let span = format!(
        "from {} to {} ({zone})",
        local(c.from, c.zone, "%Y-%m-%d %H:%M"),
        local(c.to, c.zone, "%Y-%m-%d %H:%M")
    );
    let f = c.y_format;
    match points {
        [] => format!("{}: no data {span}", c.title),
        [(t, v)] => format!(
            "{}: one value, {} at {} ({zone})",
            c.title,
            f(*v),
            local(*t, c.zone, "%Y-%m-%d %H:%M")
        ),
        many => {
            let (first, last) = (many[0], many[many.len() - 1]);
            let min = many.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
            let max = many.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
            let filling = if first.0 > c.from + (c.to - c.from) / 100 {
                format!(
                    "; the window is still filling: data from {}",
                    local(first.0, c.zone, "%Y-%m-%d %H:%M")
                )
            } else {
                String::new()
            };
            format!(
                "{} {span}: {} at the start, {} now; lowest {}, highest {}{filling}",
                c.title,
                f(first.1),
                f(last.1),
                f(min),
                f(max)
            )
        }
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(points: &[(i64, f64)], from: i64, to: i64) -> String {
        line_chart(&LineChart {
            title: "error budget remaining",
            y_label: "budget left",
            from,
            to,
            points,
            y_min: 0.0,
            y_max: 1.0,
            y_format: percent,
            marks: &[(0.25, "25 %")],
            zone: &jiff::tz::TimeZone::get("Europe/Berlin").unwrap(),
        })
    }

    const T0: i64 = 1_764_547_200; // 2025-12-01T00:00Z

    #[test]
    fn percentages_say_as_much_as_they_need() {
        assert_eq!(percent(1.0), "100 %");
        assert_eq!(percent(0.0), "0 %");
        assert_eq!(percent(0.9995), "99.95 %");
        assert_eq!(percent(0.999), "99.9 %");
        assert_eq!(percent(f64::NAN), "—");
    }

    #[test]
    fn no_data_draws_the_axes_and_says_so() {
        let svg = chart(&[], T0, T0 + 86_400);
        assert!(svg.contains("no data in this window"), "{svg}");
        assert!(svg.contains("time (Europe/Berlin)"));
        assert!(svg.contains(r#"role="img""#));
        assert!(svg.contains(
            "<figcaption class=\"alt\" aria-hidden=\"true\">error budget remaining: no data from 2025-12-01 01:00 to 2025-12-02 01:00 (Europe/Berlin)</figcaption>"
        ));
        assert!(!svg.contains("polyline"));
    }

    #[test]
    fn one_point_is_a_dot_and_named_in_the_text() {
        let svg = chart(&[(T0 + 3600, 0.5)], T0, T0 + 7200);
        assert!(
            svg.contains(r#"<circle class="series" cx="264.0" cy="70.0" r="3"/>"#),
            "{svg}"
        );
        assert!(svg.contains("one value, 50 % at 2025-12-01 02:00 (Europe/Berlin)"));
    }

    #[test]
    fn zero_and_one_hundred_percent_sit_exactly_on_the_bounds() {
        let svg = chart(
            &[(T0, 1.0), (T0 + 100, 0.0), (T0 + 200, -0.5)],
            T0,
            T0 + 200,
        );
        // 100 % at the top of the plot (y = 8), 0 % and the overspend at its floor (y = 132).
        assert!(
            svg.contains(r#"points="56.0,8.0 264.0,132.0 472.0,132.0""#),
            "{svg}"
        );
        assert!(svg.contains("lowest -50 %, highest 100 %"), "{svg}");
        // No "still filling" note: the data covers the window.
        assert!(!svg.contains("data from"));
    }

    #[test]
    fn a_window_still_filling_marks_where_the_data_begins() {
        let svg = chart(&[(T0 + 43_200, 1.0), (T0 + 86_400, 0.9)], T0, T0 + 86_400);
        assert!(svg.contains(r#"<line x1="264.0" x2="264.0""#), "{svg}");
        assert!(svg.contains("data from Dec 1 13:00"), "{svg}");
        assert!(svg.contains("the window is still filling: data from 2025-12-01 13:00"));
    }

    #[test]
    fn text_is_escaped_and_marks_outside_the_range_are_left_out() {
        let svg = line_chart(&LineChart {
            title: "<script>",
            y_label: "a & b",
            from: T0,
            to: T0,
            points: &[(T0, f64::NAN)],
            y_min: 1.0,
            y_max: 1.0,
            y_format: percent,
            marks: &[(5.0, "far")],
            zone: &jiff::tz::TimeZone::UTC,
        });
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("a &amp; b"));
        assert!(!svg.contains("far"));
        assert!(svg.contains("no data"));
    }
}

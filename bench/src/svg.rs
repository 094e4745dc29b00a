//! The chart of (b) and (c), drawn as plain SVG: p99 latency per offered rate (log
//! scale) on the left, echo throughput on the right.

use std::fmt::Write as _;

use crate::report::Results;

const WIDTH: f64 = 980.0;
const HEIGHT: f64 = 420.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 330.0;
const COLORS: [&str; 6] = [
    "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#7f7f7f",
];

/// The chart as an SVG document.
pub fn chart(r: &Results) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    latency_panel(&mut svg, r, 60.0, 520.0);
    throughput_panel(&mut svg, r, 620.0, 940.0);
    legend(&mut svg, r);
    svg.push_str("</svg>\n");
    svg
}

fn color(i: usize) -> &'static str {
    COLORS[i % COLORS.len()]
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn latency_panel(svg: &mut String, r: &Results, left: f64, right: f64) {
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="13" font-weight="bold">(b) echo p99 latency, open loop (ms, log scale; lower is better)</text>"#,
        (left + right) / 2.0
    );
    // Log scale from 0.01 ms to 10 s.
    let (lo, hi) = (-2.0f64, 4.0f64);
    let y = |ms: f64| BOTTOM - (ms.max(0.01).log10() - lo) / (hi - lo) * (BOTTOM - TOP);
    for e in lo as i32..=hi as i32 {
        let v = 10f64.powi(e);
        let yy = y(v);
        let label = if e < 0 {
            format!("{v}")
        } else {
            format!("{}", v as u64)
        };
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" x2="{right}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{label}</text>"##,
            left - 4.0,
            yy + 4.0
        );
    }
    let rates = &r.settings.latency_rates;
    let group_w = (right - left) / rates.len().max(1) as f64;
    let n = r.contenders.len().max(1) as f64;
    let bar_w = (group_w - 20.0) / n;
    for (g, rate) in rates.iter().enumerate() {
        let gx = left + g as f64 * group_w + 10.0;
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{} msg/s</text>"#,
            gx + (group_w - 20.0) / 2.0,
            BOTTOM + 16.0,
            rate
        );
        for (i, c) in r.contenders.iter().enumerate() {
            let Some(p) = c
                .latency
                .as_ref()
                .and_then(|o| o.ok.as_ref())
                .and_then(|ps| ps.iter().find(|p| p.rate == *rate))
            else {
                continue;
            };
            let ms = p.rtt.p99_us as f64 / 1000.0;
            let x = gx + i as f64 * bar_w;
            let top = y(ms);
            let opacity = if p.sustained { "1" } else { "0.35" };
            let _ = writeln!(
                svg,
                r#"<rect x="{x:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{}" fill-opacity="{opacity}"><title>{}: p99 {ms:.3} ms at {rate} msg/s{}</title></rect>"#,
                (bar_w - 2.0).max(1.0),
                (BOTTOM - top).max(0.5),
                color(i),
                esc(&c.label),
                if p.sustained { "" } else { " (not sustained)" }
            );
            if !p.sustained {
                let _ = writeln!(
                    svg,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9">✗</text>"#,
                    x + bar_w / 2.0,
                    top - 3.0
                );
            }
        }
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{left}" x2="{right}" y1="{BOTTOM}" y2="{BOTTOM}" stroke="#333"/>"##
    );
}

fn throughput_panel(svg: &mut String, r: &Results, left: f64, right: f64) {
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="13" font-weight="bold">(c) echo throughput, closed loop (msg/s)</text>"#,
        (left + right) / 2.0
    );
    let values: Vec<(usize, f64)> = r
        .contenders
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some((i, c.throughput.as_ref()?.ok.as_ref()?.msgs_per_sec)))
        .collect();
    let max = values.iter().map(|v| v.1).fold(1.0, f64::max);
    let scale = nice_ceiling(max);
    for k in 0..=4 {
        let v = scale * k as f64 / 4.0;
        let yy = BOTTOM - v / scale * (BOTTOM - TOP);
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" x2="{right}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}k</text>"##,
            left - 4.0,
            yy + 4.0,
            v / 1000.0
        );
    }
    let n = r.contenders.len().max(1) as f64;
    let bar_w = (right - left - 10.0) / n;
    for (i, v) in values {
        let x = left + 5.0 + i as f64 * bar_w;
        let top = BOTTOM - v / scale * (BOTTOM - TOP);
        let _ = writeln!(
            svg,
            r#"<rect x="{x:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {v:.0} msg/s</title></rect><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{:.0}k</text>"#,
            bar_w - 6.0,
            (BOTTOM - top).max(0.5),
            color(i),
            esc(&r.contenders[i].label),
            x + (bar_w - 6.0) / 2.0,
            top - 4.0,
            v / 1000.0
        );
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{left}" x2="{right}" y1="{BOTTOM}" y2="{BOTTOM}" stroke="#333"/>"##
    );
}

fn legend(svg: &mut String, r: &Results) {
    let mut x = 60.0;
    let y = HEIGHT - 40.0;
    for (i, c) in r.contenders.iter().enumerate() {
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            y - 10.0,
            color(i),
            x + 16.0,
            y,
            esc(&c.label)
        );
        x += 24.0 + 6.5 * c.label.len() as f64;
    }
    let _ = writeln!(
        svg,
        r##"<text x="60" y="{}" fill="#555">{} run, {}; faded bar with ✗: rate not sustained</text>"##,
        HEIGHT - 12.0,
        esc(&r.settings.mode),
        esc(&r.started)
    );
}

/// The smallest 1, 2 or 5 × 10ⁿ at or above `x`.
fn nice_ceiling(x: f64) -> f64 {
    let p = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|v| *v >= x)
        .unwrap_or(10.0 * p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(nice_ceiling(130.0), 200.0);
        assert_eq!(nice_ceiling(48_000.0), 50_000.0);
    }
}

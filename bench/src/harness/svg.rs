//! Hand-written SVG line charts: one line per tenant over seconds.

use std::fmt::Write as _;

const COLOURS: &[&str] = &["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A line chart: `series` is (name, value per second).
pub fn line_chart(title: &str, y_label: &str, series: &[(String, Vec<f64>)]) -> String {
    line_chart_on(title, y_label, series, &Axis { x_step: 1.0, x_label: "seconds".into(), shade_until: None })
}

/// The x axis of [`line_chart_on`]: what one sample index is worth, its unit, and an optional
/// shaded span from the start (e.g. a warm-up) up to a sample index, with a label.
pub struct Axis {
    pub x_step: f64,
    pub x_label: String,
    pub shade_until: Option<(usize, String)>,
}

/// [`line_chart`] with sample `i` at `i * axis.x_step` on the x axis.
pub fn line_chart_on(title: &str, y_label: &str, series: &[(String, Vec<f64>)], axis: &Axis) -> String {
    let (w, h) = (760.0, 360.0);
    let (l, r, t, b) = (64.0, 150.0, 36.0, 44.0);
    let pw = w - l - r;
    let ph = h - t - b;
    let n = series.iter().map(|s| s.1.len()).max().unwrap_or(0).max(2);
    let ymax_raw = series.iter().flat_map(|s| s.1.iter().copied()).filter(|v| v.is_finite()).fold(0.0, f64::max);
    let ymax = nice(ymax_raw.max(1e-9));
    let x = |i: usize| l + pw * i as f64 / (n - 1) as f64;
    let y = |v: f64| t + ph - ph * (v / ymax).min(1.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>
"#,
        l + pw / 2.0,
        esc(title)
    );
    for k in 0..=5 {
        let v = ymax * k as f64 / 5.0;
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{l}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            l + pw,
            l - 6.0,
            yy + 4.0,
            fmt(v)
        );
    }
    if let Some((until, label)) = &axis.shade_until {
        let xe = x((*until).min(n - 1));
        let _ = writeln!(
            s,
            r##"<rect x="{l}" y="{t}" width="{:.1}" height="{ph}" fill="#000" fill-opacity="0.07"/><text x="{:.1}" y="{:.1}" fill="#555">{}</text>"##,
            xe - l,
            l + 4.0,
            t + 14.0,
            esc(label)
        );
    }
    let step = (n / 10).max(1);
    for i in (0..n).step_by(step) {
        let v = i as f64 * axis.x_step;
        let label = if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") };
        let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#, x(i), t + ph + 16.0);
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        l + pw / 2.0,
        h - 6.0,
        esc(&axis.x_label)
    );
    let _ = writeln!(
        s,
        r#"<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">{}</text>"#,
        t + ph / 2.0,
        t + ph / 2.0,
        esc(y_label)
    );
    let _ = writeln!(s, r##"<rect x="{l}" y="{t}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>"##);
    for (k, (name, vals)) in series.iter().enumerate() {
        let c = COLOURS[k % COLOURS.len()];
        let pts: Vec<String> = vals
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(if v.is_finite() { *v } else { 0.0 })))
            .collect();
        let _ = writeln!(s, r#"<polyline fill="none" stroke="{c}" stroke-width="2" points="{}"/>"#, pts.join(" "));
        let ly = t + 14.0 + 18.0 * k as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{c}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            l + pw + 10.0,
            l + pw + 30.0,
            l + pw + 36.0,
            ly + 4.0,
            esc(name)
        );
    }
    s += "</svg>\n";
    s
}

fn nice(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

fn fmt(v: f64) -> String {
    if v >= 100.0 || v == 0.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders() {
        let s = super::line_chart(
            "t <x>",
            "req/s",
            &[("a".into(), vec![1.0, 2.0, 3.0]), ("b".into(), vec![0.0, f64::NAN])],
        );
        assert!(s.starts_with("<svg") && s.contains("polyline") && s.contains("t &lt;x&gt;"));
        assert_eq!(super::nice(7.0), 10.0);
        assert_eq!(super::nice(0.3), 0.5);
    }
}

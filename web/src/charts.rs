//! Small server-side SVG charts for the dashboards: grouped bar charts and line charts with
//! axes, gridlines, labels, a legend and an accessible name.
//!
//! The SVG is inline in the page (no script, no external file), so it prints, works with the
//! strict Content-Security-Policy and is read by screen readers through its `<title>` and
//! `<desc>`; every bar and point also carries a `<title>` with its exact value. Colours keep
//! a contrast ratio of at least 4.5:1 against the white background.

use std::fmt::Write as _;

use crate::html::escape;

/// Series colours, in order: dark blue, dark orange, green, plum (all ≥ 4.5:1 on white).
const PALETTE: &[&str] = &["#1f4e9c", "#b34000", "#18753c", "#6e445a"];

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 64.0;

/// One named series of values; `None` is a missing value (an undefined rate).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend label (French).
    pub name: String,
    /// One value per category.
    pub values: Vec<Option<f64>>,
}

impl Series {
    /// A series from a name and values.
    pub fn new(name: &str, values: Vec<Option<f64>>) -> Series {
        Series {
            name: name.to_owned(),
            values,
        }
    }
}

/// A chart: what it shows and its data.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart<'a> {
    /// Element id (also prefixes the ids of the title and description).
    pub id: &'a str,
    /// Title, read as the chart's accessible name.
    pub title: &'a str,
    /// Unit of the vertical axis (`appels`, `%`, `s`…).
    pub unit: &'a str,
    /// Category labels along the horizontal axis.
    pub labels: &'a [String],
    /// The series.
    pub series: &'a [Series],
}

/// French number: `1 234`, `72,3`.
pub fn french_number(v: f64) -> String {
    let rounded = (v * 10.0).round() / 10.0;
    let text = if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}").replace('.', ",")
    };
    let (int, frac) = match text.split_once(',') {
        Some((i, f)) => (i.to_owned(), Some(f.to_owned())),
        None => (text, None),
    };
    let (sign, digits) = match int.strip_prefix('-') {
        Some(d) => ("-", d.to_owned()),
        None => ("", int),
    };
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            // Narrow no-break space, the French thousands separator.
            grouped.push('\u{202f}');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped},{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// The vertical axis: (top, gridline step). The step is 1, 2, 2.5 or 5 × 10ⁿ (whole for
/// counts) and the top the first multiple of it at or above `max`, so there are at most
/// five round gridlines; percentages always go to 100 by 25.
fn axis(max: f64, unit: &str) -> (f64, f64) {
    if unit == "%" {
        return (100.0, 25.0);
    }
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 1.0);
    }
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let mut step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|v| *v >= raw)
        .unwrap_or(10.0 * magnitude);
    if matches!(unit, "appels" | "tickets") {
        step = step.max(1.0).ceil();
    }
    ((max / step).ceil() * step, step)
}

fn max_value(series: &[Series]) -> f64 {
    series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0, |a: f64, b| a.max(*b))
}

/// Opening of the SVG: accessible name and description, axes, gridlines, category labels
/// (thinned out when there are many) and the legend. Returns the SVG so far and the scale.
fn frame(chart: &Chart<'_>, (top, step): (f64, f64)) -> String {
    let id = escape(chart.id);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let names: Vec<&str> = chart.series.iter().map(|s| s.name.as_str()).collect();
    let mut svg = format!(
        "<svg id=\"{id}\" class=\"graphique\" role=\"img\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         width=\"{WIDTH}\" height=\"{HEIGHT}\" xmlns=\"http://www.w3.org/2000/svg\" \
         aria-labelledby=\"{id}-titre {id}-desc\" font-family=\"system-ui, sans-serif\" font-size=\"12\">\
         <title id=\"{id}-titre\">{title}</title><desc id=\"{id}-desc\">{desc}</desc>\
         <rect width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"#fff\"/>",
        title = escape(chart.title),
        desc = escape(&format!(
            "{} ({}) sur {} intervalles : {}. Les valeurs exactes sont dans le tableau qui suit.",
            chart.title,
            chart.unit,
            chart.labels.len(),
            names.join(", ")
        )),
    );
    // Horizontal gridlines and their values.
    let lines = (top / step).round().clamp(1.0, 10.0) as u32;
    for i in 0..=lines {
        let v = step * f64::from(i);
        let y = TOP + plot_h - plot_h * v / top;
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{x2}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#d0d0d0\"/>\
             <text x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\" fill=\"#333\">{v}</text>",
            x2 = LEFT + plot_w,
            tx = LEFT - 6.0,
            ty = y + 4.0,
            v = french_number(v),
        );
    }
    // Axes.
    let _ = write!(
        svg,
        "<line x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{yb}\" stroke=\"#333\"/>\
         <line x1=\"{LEFT}\" x2=\"{xr}\" y1=\"{yb}\" y2=\"{yb}\" stroke=\"#333\"/>\
         <text x=\"12\" y=\"{ym:.1}\" transform=\"rotate(-90 12 {ym:.1})\" text-anchor=\"middle\" fill=\"#333\">{unit}</text>",
        yb = TOP + plot_h,
        xr = LEFT + plot_w,
        ym = TOP + plot_h / 2.0,
        unit = escape(chart.unit),
    );
    // Category labels: at most about 16, so they stay readable.
    let n = chart.labels.len().max(1);
    let step = n.div_ceil(16);
    let slot = plot_w / n as f64;
    for (i, label) in chart.labels.iter().enumerate() {
        if i % step != 0 {
            continue;
        }
        let x = LEFT + slot * (i as f64 + 0.5);
        let y = TOP + plot_h + 14.0;
        let _ = write!(
            svg,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"end\" fill=\"#333\" \
             transform=\"rotate(-30 {x:.1} {y:.1})\">{}</text>",
            escape(&short_label(label))
        );
    }
    // Legend, top left.
    let mut x = LEFT;
    for (i, name) in names.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"12\" width=\"12\" height=\"12\" fill=\"{colour}\"/>\
             <text x=\"{tx:.1}\" y=\"22\" fill=\"#111\">{}</text>",
            escape(name),
            tx = x + 16.0,
        );
        x += 24.0 + 7.0 * name.chars().count() as f64;
    }
    svg
}

/// Labels longer than 18 characters are cut with an ellipsis (the table has them whole).
fn short_label(label: &str) -> String {
    if label.chars().count() <= 18 {
        label.to_owned()
    } else {
        let mut s: String = label.chars().take(17).collect();
        s.push('…');
        s
    }
}

fn scale_y(v: f64, top: f64) -> f64 {
    let plot_h = HEIGHT - TOP - BOTTOM;
    TOP + plot_h - plot_h * (v / top).clamp(0.0, 1.0)
}

fn value_text(label: &str, name: &str, v: Option<f64>, unit: &str) -> String {
    let value = v.map_or_else(
        || "sans objet".to_owned(),
        |v| format!("{} {unit}", french_number(v)),
    );
    escape(&format!("{label} — {name} : {value}"))
}

/// A grouped bar chart: one group of bars per category, one bar per series.
pub fn bar_chart(chart: &Chart<'_>) -> String {
    let (top, step) = axis(max_value(chart.series), chart.unit);
    let mut svg = frame(chart, (top, step));
    let n = chart.labels.len().max(1);
    let plot_w = WIDTH - LEFT - RIGHT;
    let slot = plot_w / n as f64;
    let k = chart.series.len().max(1);
    // Bars at most 36 px wide, each group centred in its slot.
    let bar = (slot * 0.8 / k as f64).clamp(1.0, 36.0);
    let group = bar * k as f64;
    let base = scale_y(0.0, top);
    for (i, label) in chart.labels.iter().enumerate() {
        for (j, s) in chart.series.iter().enumerate() {
            let v = s.values.get(i).copied().flatten();
            let y = scale_y(v.unwrap_or(0.0), top);
            let x = LEFT + slot * i as f64 + (slot - group) / 2.0 + bar * j as f64;
            let _ = write!(
                svg,
                "<rect class=\"barre\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" fill=\"{c}\">\
                 <title>{t}</title></rect>",
                h = base - y,
                c = PALETTE[j % PALETTE.len()],
                t = value_text(label, &s.name, v, chart.unit),
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A line chart: one line per series, a marker on each defined value (gaps where a value
/// is undefined).
pub fn line_chart(chart: &Chart<'_>) -> String {
    let (top, step) = axis(max_value(chart.series), chart.unit);
    let mut svg = frame(chart, (top, step));
    let n = chart.labels.len().max(1);
    let plot_w = WIDTH - LEFT - RIGHT;
    let slot = plot_w / n as f64;
    for (j, s) in chart.series.iter().enumerate() {
        let colour = PALETTE[j % PALETTE.len()];
        let mut path = String::new();
        let mut pen_down = false;
        let mut markers = String::new();
        for (i, label) in chart.labels.iter().enumerate() {
            let v = s.values.get(i).copied().flatten();
            let x = LEFT + slot * (i as f64 + 0.5);
            match v {
                Some(v) => {
                    let y = scale_y(v, top);
                    let _ = write!(path, "{}{x:.1} {y:.1} ", if pen_down { "L" } else { "M" });
                    pen_down = true;
                    let _ = write!(
                        markers,
                        "<circle class=\"point\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3.5\" fill=\"{colour}\">\
                         <title>{}</title></circle>",
                        value_text(label, &s.name, Some(v), chart.unit)
                    );
                }
                None => pen_down = false,
            }
        }
        if !path.is_empty() {
            let _ = write!(
                svg,
                "<path d=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>",
                path.trim_end()
            );
        }
        svg.push_str(&markers);
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_numbers_group_thousands_and_use_a_decimal_comma() {
        assert_eq!(french_number(0.0), "0");
        assert_eq!(french_number(72.34), "72,3");
        assert_eq!(french_number(1234.0), "1\u{202f}234");
        assert_eq!(french_number(-1234567.25), "-1\u{202f}234\u{202f}567,3");
    }

    #[test]
    fn axes_top_at_a_round_value() {
        assert_eq!(axis(5.0, "appels"), (5.0, 1.0));
        assert_eq!(axis(2.0, "appels"), (2.0, 1.0));
        assert_eq!(axis(13.0, "appels"), (15.0, 5.0));
        assert_eq!(axis(420.0, "s"), (500.0, 100.0));
        assert_eq!(axis(0.9, "s"), (1.0, 0.2));
        assert_eq!(axis(0.0, "appels"), (1.0, 1.0));
        assert_eq!(axis(42.0, "%"), (100.0, 25.0));
    }

    #[test]
    fn bars_are_sized_by_value_and_labelled() {
        let labels = vec!["support".to_owned(), "backup <b>".to_owned()];
        let series = vec![
            Series::new("Présentés", vec![Some(8.0), Some(5.0)]),
            Series::new("Répondus", vec![Some(8.0), None]),
        ];
        let svg = bar_chart(&Chart {
            id: "files",
            title: "Appels par file",
            unit: "appels",
            labels: &labels,
            series: &series,
        });
        assert!(svg.starts_with("<svg id=\"files\""));
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title id=\"files-titre\">Appels par file</title>"));
        assert_eq!(svg.matches("class=\"barre\"").count(), 4);
        assert!(svg.contains("support — Présentés : 8 appels"));
        assert!(svg.contains("backup &lt;b&gt; — Répondus : sans objet"));
        assert!(!svg.contains("<b>"), "labels are escaped");
        // 8 fills the plot (axis top 8, gridlines every 2): from y = TOP to the baseline.
        let plot_h = HEIGHT - TOP - BOTTOM;
        assert!(svg.contains(&format!("y=\"{TOP:.1}\" width=")));
        assert!(svg.contains(&format!("height=\"{plot_h:.1}\"")));
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn lines_break_where_a_value_is_undefined() {
        let labels: Vec<String> = (0..4).map(|h| format!("{h} h")).collect();
        let series = vec![Series::new(
            "Niveau de service",
            vec![Some(50.0), None, Some(100.0), Some(80.0)],
        )];
        let svg = line_chart(&Chart {
            id: "taux",
            title: "Taux",
            unit: "%",
            labels: &labels,
            series: &series,
        });
        assert_eq!(svg.matches("class=\"point\"").count(), 3);
        let path = svg.split("<path d=\"").nth(1).unwrap();
        let d = path.split('"').next().unwrap();
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(d.matches('L').count(), 1, "{d}");
    }
}

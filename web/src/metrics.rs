//! Prometheus text exposition format (version 0.0.4), written by hand: the binary collects
//! the rooms' counters and this module renders them.

use std::fmt::Write as _;

/// Kind of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
}

impl MetricKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
        }
    }
}

/// Accumulates metric families and renders them as Prometheus text.
#[derive(Debug, Default)]
pub struct MetricsText {
    out: String,
    current: Option<String>,
}

impl MetricsText {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a family; the samples that follow belong to it.
    pub fn family(&mut self, name: &str, help: &str, kind: MetricKind) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
        self.current = Some(name.to_owned());
        self
    }

    /// Adds a sample to the current family.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        let name = self.current.clone().unwrap_or_default();
        self.out.push_str(&name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", format_value(value));
        self
    }

    /// Shorthand for a family with a single unlabelled sample.
    pub fn single(&mut self, name: &str, help: &str, kind: MetricKind, value: f64) -> &mut Self {
        self.family(name, help, kind).sample(&[], value)
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_families_labels_and_escapes() {
        let mut m = MetricsText::new();
        m.family(
            "guichet_sip_requests_total",
            "SIP requests received.",
            MetricKind::Counter,
        )
        .sample(&[("method", "INVITE")], 3.0)
        .sample(&[("method", "a\"b")], 0.5);
        m.single("guichet_up", "1 when serving.", MetricKind::Gauge, 1.0);
        let text = m.finish();
        assert_eq!(
            text,
            "# HELP guichet_sip_requests_total SIP requests received.\n\
             # TYPE guichet_sip_requests_total counter\n\
             guichet_sip_requests_total{method=\"INVITE\"} 3\n\
             guichet_sip_requests_total{method=\"a\\\"b\"} 0.5\n\
             # HELP guichet_up 1 when serving.\n\
             # TYPE guichet_up gauge\n\
             guichet_up 1\n"
        );
    }
}

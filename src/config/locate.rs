//! Maps byte offsets and dotted field paths of a TOML document to each other, so every
//! configuration error can name its file, line, column and field.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// One step of a field path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

/// Renders a path as `lines[1].queues` / `flows.louvre.nodes.menu`.
pub fn render_path(path: &[PathStep]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            PathStep::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathStep::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// 1-based line and column of a byte offset (columns count characters, not bytes).
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..floor_char_boundary(source, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The deepest field path whose key or value contains `offset`.
pub fn path_at(source: &str, offset: usize) -> Vec<PathStep> {
    let Ok(doc) = DeTable::parse(source) else {
        return Vec::new();
    };
    let mut path = Vec::new();
    descend_table(doc.get_ref(), offset, &mut path);
    path
}

fn contains(span: &Range<usize>, offset: usize) -> bool {
    span.start <= offset && offset < span.end.max(span.start + 1)
}

// The span of a table opened by a `[header]` covers only the header, so tables and arrays
// are searched through their children rather than through their own span.
fn descend_table(table: &DeTable<'_>, offset: usize, path: &mut Vec<PathStep>) -> bool {
    for (key, value) in table.iter() {
        path.push(PathStep::Key(key.get_ref().to_string()));
        if contains(&key.span(), offset) || descend_value(value, offset, path) {
            return true;
        }
        path.pop();
    }
    false
}

fn descend_value(
    value: &toml::Spanned<DeValue<'_>>,
    offset: usize,
    path: &mut Vec<PathStep>,
) -> bool {
    match value.get_ref() {
        DeValue::Table(t) => descend_table(t, offset, path) || contains(&value.span(), offset),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(PathStep::Index(i));
                if descend_value(item, offset, path) {
                    return true;
                }
                path.pop();
            }
            contains(&value.span(), offset)
        }
        _ => contains(&value.span(), offset),
    }
}

/// The span of the value at `path` (or of the deepest ancestor that exists).
pub fn span_of(source: &str, path: &[PathStep]) -> Option<Range<usize>> {
    let doc = DeTable::parse(source).ok()?;
    let mut best: Option<Range<usize>> = None;
    let mut current: Option<&DeValue<'_>> = None;
    let root = doc.get_ref();
    for step in path {
        let next = match (step, current) {
            (PathStep::Key(k), None) => root.iter().find(|(key, _)| key.get_ref() == k.as_str()),
            (PathStep::Key(k), Some(DeValue::Table(t))) => {
                t.iter().find(|(key, _)| key.get_ref() == k.as_str())
            }
            (PathStep::Index(i), Some(DeValue::Array(items))) => {
                let item = items.get(*i)?;
                best = Some(item.span());
                current = Some(item.get_ref());
                continue;
            }
            _ => None,
        };
        let Some((key, value)) = next else {
            return best;
        };
        // Point at the key of a table (its header line) and at the value of a scalar.
        best = Some(if value.get_ref().is_table() {
            key.span()
        } else {
            value.span()
        });
        current = Some(value.get_ref());
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "[server]\nname = \"x\"\n\n[[lines]]\nnumber = \"8585\"\n[[lines]]\nnumber = \"3000\"\nqueues = [\"a\", \"b\"]\n";

    #[test]
    fn line_and_column_are_one_based() {
        assert_eq!(line_col(DOC, 0), (1, 1));
        let at = DOC.find("name").unwrap_or(0);
        assert_eq!(line_col(DOC, at), (2, 1));
        let at = DOC.find("\"x\"").unwrap_or(0);
        assert_eq!(line_col(DOC, at), (2, 8));
    }

    #[test]
    fn path_at_finds_array_of_tables_items() {
        let at = DOC.find("\"b\"").unwrap_or(0);
        assert_eq!(render_path(&path_at(DOC, at)), "lines[1].queues[1]");
    }

    #[test]
    fn span_of_path_points_at_the_value() {
        let span = span_of(
            DOC,
            &[
                PathStep::Key("lines".into()),
                PathStep::Index(1),
                PathStep::Key("number".into()),
            ],
        );
        let start = span.map(|s| s.start).unwrap_or(0);
        assert_eq!(line_col(DOC, start), (7, 10));
    }
}

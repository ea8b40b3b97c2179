//! docker's `--format` for the list verbs: `table [TEMPLATE]` (a header row, columns aligned by
//! Go's tab writer), `json` (each row as one JSON object), or a Go template per row.

use anyhow::{anyhow, Result};

use super::ordered::Json;
use super::template::Template;

/// A list's `--format`, parsed.
pub struct ListFormat {
    source: String,
    template: Template,
    table: bool,
}

impl ListFormat {
    /// `format` as docker reads it (`\t` and `\n` written out become tabs and newlines); `table`
    /// alone is `default_table`.
    pub fn parse(format: &str, default_table: &str) -> Result<ListFormat> {
        if format == "table" {
            return ListFormat::parse(default_table, default_table);
        }
        let (body, table) = match format {
            "json" => ("{{json .}}", false),
            f => match f.strip_prefix("table ") {
                Some(rest) => (rest, true),
                None => (f, false),
            },
        };
        let body = body
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        let template =
            Template::parse(&body).map_err(|e| anyhow!("failed to parse template: {e}"))?;
        Ok(ListFormat {
            source: format.to_string(),
            template,
            table,
        })
    }

    /// Whether the rows need `field` (as docker asks the daemon for sizes only when the format
    /// shows them): named in the template, or the whole row as JSON.
    pub fn wants(&self, field: &str) -> bool {
        self.source.contains(&format!(".{field}")) || self.source.contains("json .}}")
    }

    /// Try the template on the header row (which has every field): a field the rows lack is
    /// docker's error, before the daemon is asked anything.
    pub fn check(&self, header: &Json, type_name: &str) -> Result<()> {
        self.template
            .render_row(header, type_name)
            .map(drop)
            .map_err(|e| anyhow!("failed to execute template: {e}"))
    }

    /// Render the rows (and, for a table, first the header: `header` holds each field's title),
    /// then print them.
    pub fn print(&self, header: &Json, rows: &[Json], type_name: &str) -> Result<()> {
        let fail = |e| anyhow!("template parsing error: {e}");
        let mut out = String::new();
        if self.table {
            out.push_str(&self.template.render_row(header, type_name).map_err(fail)?);
            out.push('\n');
        }
        for r in rows {
            out.push_str(&self.template.render_row(r, type_name).map_err(fail)?);
            out.push('\n');
        }
        if self.table {
            out = tabwrite(&out);
        }
        print!("{out}");
        Ok(())
    }
}

/// Align tab-separated cells as Go's `tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)` does for docker:
/// each column as wide as its widest cell plus three, at least ten; the last cell of a line is
/// not padded.
pub fn tabwrite(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for cells in &lines {
        for (i, c) in cells.iter().enumerate().take(cells.len().saturating_sub(1)) {
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(c.chars().count() + 3).max(10);
        }
    }
    let mut out = String::new();
    for cells in &lines {
        let last = cells.len().saturating_sub(1);
        for (i, c) in cells.iter().enumerate() {
            out.push_str(c);
            if i < last {
                out.push_str(&" ".repeat(widths[i] - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

/// A header row: each field's column title.
pub fn header(titles: &[(&str, &str)]) -> Json {
    Json::Obj(
        titles
            .iter()
            .map(|(k, h)| (k.to_string(), Json::Str(h.to_string())))
            .collect(),
    )
}

/// `KEY=VALUE,...` of a labels object (sorted; Go's map order is random), and the labels as the
/// table `{{.Label "KEY"}}` reads.
pub fn labels(v: &serde_json::Value) -> (Json, Json) {
    let mut l: Vec<(String, String)> = v
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
        .collect();
    l.sort();
    let joined = l
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let table = Json::Obj(l.into_iter().map(|(k, v)| (k, Json::Str(v))).collect());
    (Json::Str(joined), table)
}

/// An RFC 3339 time as Go's `time.Time.String()` prints it (`2026-12-07 17:40:33.738145579 +0000
/// UTC`).
pub fn go_time_string(rfc3339: &str) -> String {
    let (date, rest) = rfc3339.split_once('T').unwrap_or((rfc3339, ""));
    let zone_at = rest.find(['Z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let clock = match clock.split_once('.') {
        Some((hms, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                hms.to_string()
            } else {
                format!("{hms}.{frac}")
            }
        }
        None => clock.to_string(),
    };
    let zone = match zone {
        "Z" | "" => "+0000 UTC".to_string(),
        z => {
            let z = z.replace(':', "");
            format!("{z} {z}")
        }
    };
    format!("{date} {clock} {zone}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_go() {
        assert_eq!(
            go_time_string("2026-12-07T17:40:33.738145579Z"),
            "2026-12-07 17:40:33.738145579 +0000 UTC"
        );
        assert_eq!(
            go_time_string("2026-12-07T17:40:33.5000Z"),
            "2026-12-07 17:40:33.5 +0000 UTC"
        );
        assert_eq!(
            go_time_string("2026-12-07T17:40:33+01:00"),
            "2026-12-07 17:40:33 +0100 +0100"
        );
    }

    #[test]
    fn tables_align_as_go_tabwriter() {
        assert_eq!(
            tabwrite("CONTAINER ID\tPORTS\n584e98a3707b\t\n"),
            "CONTAINER ID   PORTS\n584e98a3707b   \n"
        );
        assert_eq!(
            tabwrite("A\tB\tC\nlonger\tx\t\n"),
            "A         B         C\nlonger    x         \n"
        );
    }
}

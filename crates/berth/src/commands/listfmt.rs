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
        let fail = |e| anyhow!("failed to execute template: {e}");
        let head = self.template.render_row(header, type_name).map_err(fail)?;
        let mut out = String::new();
        if self.table {
            out.push_str(&head);
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

#[cfg(test)]
mod tests {
    use super::*;

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

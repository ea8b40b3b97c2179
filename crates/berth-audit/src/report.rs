//! The findings as a table for people (JSON is the findings' serde form).

use serde::Serialize;

use crate::{Finding, Outcome};

/// How many checks ended each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub info: usize,
    pub skipped: usize,
}

impl Summary {
    pub fn of(findings: &[Finding]) -> Summary {
        let n = |o: Outcome| findings.iter().filter(|f| f.result == o).count();
        Summary {
            total: findings.len(),
            pass: n(Outcome::Pass),
            fail: n(Outcome::Fail),
            info: n(Outcome::Info),
            skipped: n(Outcome::Skipped),
        }
    }
}

/// One line per check under its section's heading; the reason and the failing items indented
/// below it.
pub fn render_table(findings: &[Finding]) -> String {
    let mut out = String::new();
    let mut section = "";
    for f in findings {
        if f.section != section {
            section = &f.section;
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("[{section}]\n"));
        }
        let kind = if f.automated { "" } else { " (manual)" };
        out.push_str(&format!(
            "{:<8} {:<8} {}{kind}\n",
            f.id,
            f.result.as_str().to_uppercase(),
            f.title
        ));
        if let Some(r) = &f.reason {
            if f.result != Outcome::Pass || !f.items.is_empty() {
                out.push_str(&format!("{:18}{r}\n", ""));
            }
        }
        for i in &f.items {
            out.push_str(&format!("{:18}- {i}\n", ""));
        }
    }
    let s = Summary::of(findings);
    out.push_str(&format!(
        "\n{} checks: {} pass, {} fail, {} info, {} skipped\n",
        s.total, s.pass, s.fail, s.info, s.skipped
    ));
    out
}

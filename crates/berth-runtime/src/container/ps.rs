//! `ps`: the processes of a container, which are those of its cgroup. The
//! JSON form prints their pids; the table form runs the host's `ps` (with
//! `-ef` or the arguments given) and keeps the header and the lines whose PID
//! column is one of them, as runc does.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use crate::error::{Context, Error, Result};

pub fn ps(root: &Path, id: &str, format: &str, ps_args: &[String]) -> Result<()> {
    let (st, _) = super::load(root, id)?;
    if format != "table" && format != "json" {
        return Err(Error::Usage(format!(
            "--format {format:?}: use table or json"
        )));
    }
    let cg = super::cgroup_of(&st, "its processes cannot be listed")?;
    let pids = cg.pids()?;
    let mut out = std::io::stdout().lock();
    if format == "json" {
        // runc prints Go's nil slice, `null`, when there is no process.
        let text = if pids.is_empty() {
            "null".to_string()
        } else {
            serde_json::to_string(&pids).expect("pids serialize")
        };
        let _ = writeln!(out, "{text}");
        return Ok(());
    }
    let args: Vec<&str> = if ps_args.is_empty() {
        vec!["-ef"]
    } else {
        ps_args.iter().map(String::as_str).collect()
    };
    let output = Command::new("ps").args(&args).output().ctx("run ps")?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        return Err(Error::Usage(format!(
            "ps {}: {}: {}",
            args.join(" "),
            output.status,
            text.trim_end()
        )));
    }
    for line in filter_table(&text, &pids)? {
        let _ = writeln!(out, "{line}");
    }
    Ok(())
}

/// The header of `ps` output and the lines whose PID is in `pids`.
fn filter_table<'a>(text: &'a str, pids: &[i32]) -> Result<Vec<&'a str>> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| Error::Usage("couldn't find PID field in ps output".into()))?;
    let mut out = vec![header];
    for line in lines.filter(|l| !l.is_empty()) {
        let field = line.split_whitespace().nth(col).unwrap_or_default();
        let pid: i32 = field
            .parse()
            .map_err(|_| Error::Usage(format!("unable to parse pid {field:?} in ps output")))?;
        if pids.contains(&pid) {
            out.push(line);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_keeps_header_and_container_lines() {
        let text = "UID PID PPID C STIME TTY TIME CMD\n\
                    root 1 0 0 10:00 ? 00:00:01 /sbin/init\n\
                    root 42 1 0 10:00 ? 00:00:00 sleep 60\n\
                    root 43 42 0 10:00 ? 00:00:00 sh\n";
        let got = filter_table(text, &[42, 43]).unwrap();
        assert_eq!(got.len(), 3);
        assert!(got[0].starts_with("UID PID"));
        assert!(got[1].contains("sleep 60"));
        assert!(filter_table("USER COMMAND\n", &[1]).is_err());
        assert!(filter_table("PID CMD\nx y\n", &[1]).is_err());
    }
}

//! The Dockerfile parser: parser directives (`escape`, `syntax`), comments, line continuations, the
//! keyword and its `--flags`, and JSON (exec) versus shell form. Heredocs are refused (the classic
//! builder has none).

use crate::BuildError;

/// How an instruction's arguments were written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Args {
    /// `["a", "b"]`.
    Json(Vec<String>),
    /// Everything after the keyword and flags, as written (continuations joined).
    Shell(String),
}

/// One instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instruction {
    /// Upper-case keyword (`RUN`).
    pub keyword: String,
    /// `--name=value` flags given before the arguments, in order.
    pub flags: Vec<(String, String)>,
    /// The arguments.
    pub args: Args,
    /// The instruction as `Step N/M :` shows it (continuations joined).
    pub original: String,
    /// Line number (1-based) where it starts.
    pub line: usize,
}

impl Instruction {
    /// The value of flag `name`, if given.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed Dockerfile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character (`\` unless `# escape=` says otherwise).
    pub escape: char,
    /// Instructions in order.
    pub instructions: Vec<Instruction>,
    /// Notes for the user (an ignored `# syntax=` directive).
    pub warnings: Vec<String>,
}

/// Keywords the builder knows.
pub const KEYWORDS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Keywords whose arguments may be a JSON array.
const JSON_FORMS: &[&str] = &[
    "ADD",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "RUN",
    "SHELL",
    "VOLUME",
    "HEALTHCHECK",
];

/// Keywords that take `--flags`.
const WITH_FLAGS: &[&str] = &["ADD", "COPY", "FROM", "HEALTHCHECK", "RUN"];

fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?.trim();
    let (k, v) = rest.split_once('=')?;
    let k = k.trim().to_ascii_lowercase();
    if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    Some((k, v.trim().to_string()))
}

/// Whether `line` ends with the escape character (trailing blanks allowed); returns the line without it.
fn continued(line: &str, escape: char) -> Option<&str> {
    let t = line.trim_end_matches([' ', '\t']);
    t.strip_suffix(escape)
}

/// Parse a Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, BuildError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut df = Dockerfile {
        escape: '\\',
        ..Default::default()
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    // Parser directives: only at the very top, before any blank line, comment or instruction.
    let mut seen = std::collections::BTreeSet::new();
    while i < lines.len() {
        let Some((k, v)) = directive(lines[i]) else {
            break;
        };
        if !seen.insert(k.clone()) {
            return Err(BuildError::Parse {
                line: i + 1,
                message: format!("only one {k} parser directive can be used"),
            });
        }
        match k.as_str() {
            "escape" => {
                df.escape = match v.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(BuildError::Parse {
                            line: i + 1,
                            message: format!("invalid escape token '{v}' does not match ` or \\"),
                        })
                    }
                }
            }
            "syntax" => df.warnings.push(format!(
                "the syntax directive ({v}) is ignored: Berth's builder is the classic one"
            )),
            _ => {}
        }
        i += 1;
    }
    while i < lines.len() {
        let start = i;
        let first = lines[i].trim_start();
        i += 1;
        if first.is_empty() || first.starts_with('#') {
            continue;
        }
        let mut logical = String::new();
        let mut cur = first.to_string();
        loop {
            match continued(&cur, df.escape) {
                Some(head) => {
                    logical.push_str(head);
                    // The next non-comment, non-empty line continues it.
                    let mut next = None;
                    while i < lines.len() {
                        let l = lines[i];
                        i += 1;
                        let t = l.trim_start();
                        if t.starts_with('#') || t.trim().is_empty() {
                            continue;
                        }
                        next = Some(l.to_string());
                        break;
                    }
                    match next {
                        Some(n) => cur = n,
                        None => break,
                    }
                }
                None => {
                    logical.push_str(&cur);
                    break;
                }
            }
        }
        df.instructions
            .push(parse_instruction(logical.trim(), start + 1)?);
    }
    Ok(df)
}

/// Parse one logical line (continuations already joined).
pub fn parse_instruction(line: &str, lineno: usize) -> Result<Instruction, BuildError> {
    let err = |message: String| BuildError::Parse {
        line: lineno,
        message,
    };
    let (kw, mut rest) = match line.split_once(|c: char| c.is_whitespace()) {
        Some((k, r)) => (k, r.trim_start()),
        None => (line, ""),
    };
    let keyword = kw.to_ascii_uppercase();
    if !KEYWORDS.contains(&keyword.as_str()) {
        return Err(err(format!("unknown instruction: {kw}")));
    }
    let mut flags = Vec::new();
    if WITH_FLAGS.contains(&keyword.as_str()) {
        while let Some(f) = rest.strip_prefix("--") {
            let end = f.find(char::is_whitespace).unwrap_or(f.len());
            let word = &f[..end];
            let (k, v) = match word.split_once('=') {
                Some((k, v)) => (k, v),
                None => (word, "true"),
            };
            if k.is_empty() {
                break;
            }
            flags.push((k.to_ascii_lowercase(), v.to_string()));
            rest = f[end..].trim_start();
        }
    }
    if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") && has_heredoc(rest) {
        return Err(err(format!(
            "{keyword} with a heredoc (<<) is not supported: the classic builder has no heredocs; write the lines with RUN/COPY of a file instead"
        )));
    }
    let args = if JSON_FORMS.contains(&keyword.as_str()) && rest.starts_with('[') {
        match serde_json::from_str::<Vec<String>>(rest) {
            Ok(v) => Args::Json(v),
            Err(_) => Args::Shell(rest.to_string()),
        }
    } else {
        Args::Shell(rest.to_string())
    };
    if keyword == "SHELL" && !matches!(args, Args::Json(_)) {
        return Err(err("SHELL requires the arguments to be in JSON form".into()));
    }
    let needs_args = !matches!(keyword.as_str(), "HEALTHCHECK");
    if needs_args && matches!(&args, Args::Shell(s) if s.is_empty()) {
        return Err(err(format!("{keyword} requires at least one argument")));
    }
    Ok(Instruction {
        keyword,
        flags,
        args,
        original: line.to_string(),
        line: lineno,
    })
}

/// A heredoc marker (`<<EOF`, `<<-EOF`, `<<"EOF"`) outside quotes, but not a here-string (`<<<`).
fn has_heredoc(s: &str) -> bool {
    let b = s.as_bytes();
    let (mut sq, mut dq) = (false, false);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' if !dq => sq = !sq,
            b'"' if !sq => dq = !dq,
            b'<' if !sq && !dq && b.get(i + 1) == Some(&b'<') => {
                if b.get(i + 2) == Some(&b'<') {
                    i += 3;
                    continue;
                }
                let mut j = i + 2;
                if b.get(j) == Some(&b'-') {
                    j += 1;
                }
                if matches!(b.get(j), Some(b'"' | b'\'')) {
                    j += 1;
                }
                if b.get(j)
                    .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
                {
                    return true;
                }
                i += 2;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_comments_and_forms() {
        let df = parse(
            "# syntax=docker/dockerfile:1\nFROM busybox AS base\n\n# a comment\nRUN echo a \\\n  # inside\n  && echo b\nCMD [\"sh\", \"-c\", \"x\"]\nCMD [not json\ncopy --from=base --chown=1:2 a b\n",
        )
        .unwrap();
        assert_eq!(df.warnings.len(), 1);
        let k: Vec<_> = df.instructions.iter().map(|i| i.keyword.as_str()).collect();
        assert_eq!(k, ["FROM", "RUN", "CMD", "CMD", "COPY"]);
        assert_eq!(
            df.instructions[1].args,
            Args::Shell("echo a   && echo b".into())
        );
        assert_eq!(df.instructions[1].line, 5);
        assert_eq!(
            df.instructions[2].args,
            Args::Json(vec!["sh".into(), "-c".into(), "x".into()])
        );
        assert_eq!(df.instructions[3].args, Args::Shell("[not json".into()));
        let c = &df.instructions[4];
        assert_eq!(c.flag("from"), Some("base"));
        assert_eq!(c.flag("chown"), Some("1:2"));
        assert_eq!(c.args, Args::Shell("a b".into()));
    }

    #[test]
    fn escape_directive() {
        let df = parse("# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo\n").unwrap();
        assert_eq!(df.escape, '`');
        assert_eq!(
            df.instructions[1].args,
            Args::Shell("dir c:\\   && echo".into())
        );
        // A directive after an instruction is a comment.
        let df = parse("FROM x\n# escape=`\nRUN a `\n").unwrap();
        assert_eq!(df.escape, '\\');
        assert_eq!(df.instructions[1].args, Args::Shell("a `".into()));
        assert!(parse("# escape=x\nFROM a").is_err());
    }

    #[test]
    fn heredocs_unknown_and_empty_are_refused() {
        let e = parse("FROM a\nRUN cat <<EOF\nhi\nEOF\n").unwrap_err();
        assert!(e.to_string().contains("heredoc"), "{e}");
        assert!(parse("FROM a\nRUN cat <<< hi\n").is_ok());
        assert!(parse("FROM a\nRUN echo '<<EOF'\n").is_ok());
        let e = parse("FROM a\nFOO bar\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error line 2: unknown instruction: FOO"
        );
        assert!(parse("FROM a\nRUN\n").is_err());
        assert!(parse("FROM a\nSHELL sh -c\n").is_err());
    }
}

//! Variable substitution as the classic builder does it in ADD, COPY, ENV, EXPOSE, FROM, LABEL,
//! STOPSIGNAL, USER, VOLUME, WORKDIR and ARG: `$V`, `${V}`, `${V:-word}`, `${V:+word}`, `${V-word}`,
//! `${V+word}`, single quotes (literal), double quotes, and the escape character.

use crate::BuildError;

/// Look up a variable.
pub trait Vars {
    /// The value of `name`, if set.
    fn get(&self, name: &str) -> Option<String>;
}

impl Vars for [(String, String)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl Vars for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<String> {
        Vars::get(self.as_slice(), name)
    }
}

struct Lexer<'a> {
    s: Vec<char>,
    i: usize,
    escape: char,
    vars: &'a dyn Vars,
}

/// One piece of output: text, and whether it may be split into words (an unquoted expansion).
struct Out {
    words: Vec<String>,
    cur: String,
    has_cur: bool,
    split: bool,
}

impl Out {
    fn push(&mut self, c: char) {
        self.cur.push(c);
        self.has_cur = true;
    }
    fn push_str(&mut self, s: &str) {
        self.cur.push_str(s);
        self.has_cur = true;
    }
    fn push_expansion(&mut self, s: &str, quoted: bool) {
        if quoted || !self.split {
            self.push_str(s);
            return;
        }
        let mut first = true;
        let starts_ws = s.starts_with(char::is_whitespace);
        for (n, w) in s.split_whitespace().enumerate() {
            if n > 0 || (first && starts_ws) {
                self.end_word();
            }
            first = false;
            self.push_str(w);
        }
        if s.ends_with(char::is_whitespace) && !s.trim().is_empty() {
            self.end_word();
        }
    }
    fn end_word(&mut self) {
        if self.has_cur {
            self.words.push(std::mem::take(&mut self.cur));
            self.has_cur = false;
        }
    }
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn run(&mut self, out: &mut Out) -> Result<(), BuildError> {
        while let Some(c) = self.peek() {
            self.i += 1;
            if c == self.escape {
                match self.peek() {
                    Some(n) => {
                        self.i += 1;
                        out.push(n);
                    }
                    None => out.push(c),
                }
            } else if c == '\'' {
                out.has_cur = true;
                loop {
                    match self.peek() {
                        None => return Err(BuildError::Substitution(
                            "unexpected end of statement while looking for matching single-quote"
                                .into(),
                        )),
                        Some('\'') => {
                            self.i += 1;
                            break;
                        }
                        Some(ch) => {
                            self.i += 1;
                            out.push(ch);
                        }
                    }
                }
            } else if c == '"' {
                out.has_cur = true;
                loop {
                    match self.peek() {
                        None => return Err(BuildError::Substitution(
                            "unexpected end of statement while looking for matching double-quote"
                                .into(),
                        )),
                        Some('"') => {
                            self.i += 1;
                            break;
                        }
                        Some('$') => {
                            self.i += 1;
                            let v = self.dollar()?;
                            out.push_expansion(&v, true);
                        }
                        Some(ch) if ch == self.escape => {
                            self.i += 1;
                            match self.peek() {
                                // Inside double quotes only `"`, `$` and the escape itself are escaped.
                                Some(n) if n == '"' || n == '$' || n == self.escape => {
                                    self.i += 1;
                                    out.push(n);
                                }
                                _ => out.push(ch),
                            }
                        }
                        Some(ch) => {
                            self.i += 1;
                            out.push(ch);
                        }
                    }
                }
            } else if c == '$' {
                let v = self.dollar()?;
                out.push_expansion(&v, false);
            } else if out.split && c.is_whitespace() {
                out.end_word();
            } else {
                out.push(c);
            }
        }
        Ok(())
    }

    fn name(&mut self) -> String {
        let mut n = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                n.push(c);
                self.i += 1;
            } else {
                break;
            }
        }
        n
    }

    /// After a `$`.
    fn dollar(&mut self) -> Result<String, BuildError> {
        match self.peek() {
            Some('{') => {
                self.i += 1;
                let name = self.name();
                if name.is_empty() {
                    return Err(BuildError::Substitution(format!(
                        "bad substitution: missing variable name in {}",
                        self.s.iter().collect::<String>()
                    )));
                }
                let value = self.vars.get(&name);
                match self.peek() {
                    Some('}') => {
                        self.i += 1;
                        Ok(value.unwrap_or_default())
                    }
                    Some(':') | Some('-') | Some('+') => {
                        let colon = self.peek() == Some(':');
                        if colon {
                            self.i += 1;
                        }
                        let op = self.peek();
                        if !matches!(op, Some('-') | Some('+')) {
                            return Err(BuildError::Substitution(format!(
                                "unsupported modifier ({}) in substitution",
                                op.map(String::from).unwrap_or_default()
                            )));
                        }
                        self.i += 1;
                        let word = self.word_until_brace()?;
                        let set = match &value {
                            Some(v) => !colon || !v.is_empty(),
                            None => false,
                        };
                        Ok(match op {
                            Some('-') => {
                                if set {
                                    value.unwrap_or_default()
                                } else {
                                    word
                                }
                            }
                            _ => {
                                if set {
                                    word
                                } else {
                                    String::new()
                                }
                            }
                        })
                    }
                    Some(c) => Err(BuildError::Substitution(format!(
                        "unsupported modifier ({c}) in substitution"
                    ))),
                    None => Err(BuildError::Substitution(
                        "missing '}' in substitution".into(),
                    )),
                }
            }
            Some(c) if c.is_ascii_alphanumeric() || c == '_' => {
                let name = self.name();
                Ok(self.vars.get(&name).unwrap_or_default())
            }
            _ => Ok("$".into()),
        }
    }

    /// The word of `${V:-word}`, itself substituted, up to the closing brace.
    fn word_until_brace(&mut self) -> Result<String, BuildError> {
        let mut out = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(BuildError::Substitution(
                        "missing '}' in substitution".into(),
                    ))
                }
                Some('}') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some('$') => {
                    self.i += 1;
                    out.push_str(&self.dollar()?);
                }
                Some(c) if c == self.escape => {
                    self.i += 1;
                    if let Some(n) = self.peek() {
                        self.i += 1;
                        out.push(n);
                    }
                }
                Some(c) => {
                    self.i += 1;
                    out.push(c);
                }
            }
        }
    }
}

/// Substitute one word (quotes removed, nothing split).
pub fn word(s: &str, escape: char, vars: &dyn Vars) -> Result<String, BuildError> {
    let mut out = Out {
        words: vec![],
        cur: String::new(),
        has_cur: false,
        split: false,
    };
    Lexer {
        s: s.chars().collect(),
        i: 0,
        escape,
        vars,
    }
    .run(&mut out)?;
    Ok(out.cur)
}

/// Substitute and split into words on unquoted blanks (an unquoted expansion splits too).
pub fn words(s: &str, escape: char, vars: &dyn Vars) -> Result<Vec<String>, BuildError> {
    let mut out = Out {
        words: vec![],
        cur: String::new(),
        has_cur: false,
        split: true,
    };
    Lexer {
        s: s.chars().collect(),
        i: 0,
        escape,
        vars,
    }
    .run(&mut out)?;
    out.end_word();
    Ok(out.words)
}

/// Split into words on unquoted blanks keeping quotes and escapes as written (for `KEY=value` lists
/// whose values are substituted one by one afterwards).
pub fn split_raw(s: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let (mut sq, mut dq, mut esc) = (false, false, false);
    for c in s.chars() {
        if esc {
            cur.push(c);
            esc = false;
            continue;
        }
        if c == escape && !sq {
            esc = true;
            cur.push(c);
            continue;
        }
        match c {
            '\'' if !dq => sq = !sq,
            '"' if !sq => dq = !dq,
            _ => {}
        }
        if c.is_whitespace() && !sq && !dq {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        vec![
            ("A".into(), "x".into()),
            ("E".into(), "".into()),
            ("SP".into(), "one two".into()),
        ]
    }

    #[test]
    fn forms() {
        let e = env();
        let w = |s: &str| word(s, '\\', &e).unwrap();
        assert_eq!(w("$A"), "x");
        assert_eq!(w("${A}y"), "xy");
        assert_eq!(w("$Ay"), "");
        assert_eq!(w("${N:-def}"), "def");
        assert_eq!(w("${E:-def}"), "def");
        assert_eq!(w("${E-def}"), "");
        assert_eq!(w("${A:-def}"), "x");
        assert_eq!(w("${A:+alt}"), "alt");
        assert_eq!(w("${E:+alt}"), "");
        assert_eq!(w("${E+alt}"), "alt");
        assert_eq!(w("${N:+alt}"), "");
        assert_eq!(w("${N:-$A}"), "x");
        assert_eq!(w("'$A'"), "$A");
        assert_eq!(w("\"$A b\""), "x b");
        assert_eq!(w("\\$A"), "$A");
        assert_eq!(w("a\\ b"), "a b");
        assert_eq!(w("$"), "$");
        assert_eq!(word("`$A", '`', &e).unwrap(), "$A");
        assert!(word("${A", '\\', &e).is_err());
        assert!(word("${A:?x}", '\\', &e).is_err());
        assert!(word("'open", '\\', &e).is_err());
    }

    #[test]
    fn splitting() {
        let e = env();
        let ws = |s: &str| words(s, '\\', &e).unwrap();
        assert_eq!(ws("a  $A \"b c\""), ["a", "x", "b c"]);
        assert_eq!(ws("$SP three"), ["one", "two", "three"]);
        assert_eq!(ws("\"$SP\""), ["one two"]);
        assert_eq!(ws("80/tcp ${N:-443}"), ["80/tcp", "443"]);
        assert_eq!(ws("''"), [""]);
        assert_eq!(
            split_raw("a=\"b c\" d='e f' g=h\\ i", '\\'),
            ["a=\"b c\"", "d='e f'", "g=h\\ i"]
        );
    }
}

//! `.dockerignore`: Docker's pattern rules. Lines are patterns (blank lines and `#` comments skipped),
//! cleaned like paths with a leading `/` dropped; `*` and `?` stay within one path element, `**`
//! crosses them (`**/` may match nothing), `[...]` classes and `\` escapes work, `!` makes an
//! exception, and the last pattern that matches a path or any of its parent directories decides.

/// One pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// The cleaned pattern.
    pub pattern: String,
    /// Whether it is an exception (`!`).
    pub exclusion: bool,
}

/// A parsed `.dockerignore`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ignore {
    /// The patterns in order.
    pub patterns: Vec<Pattern>,
}

/// Clean a path lexically as Go's `filepath.Clean` does (no leading `/` kept).
pub fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            x => out.push(x),
        }
    }
    if out.is_empty() {
        ".".into()
    } else {
        out.join("/")
    }
}

impl Ignore {
    /// Parse the file's text.
    pub fn parse(text: &str) -> Ignore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let mut p = line.trim();
            if p.is_empty() {
                continue;
            }
            let exclusion = p.starts_with('!');
            if exclusion {
                p = p[1..].trim();
                if p.is_empty() {
                    continue;
                }
            }
            let pattern = clean(p);
            patterns.push(Pattern { pattern, exclusion });
        }
        Ignore { patterns }
    }

    /// Whether `path` (relative to the context, `/`-separated) is ignored.
    pub fn ignored(&self, path: &str) -> bool {
        let path = clean(path);
        let parts: Vec<&str> = path.split('/').collect();
        let mut ignored = false;
        for p in &self.patterns {
            let pat: Vec<char> = p.pattern.chars().collect();
            let mut m = glob(&pat, &path.chars().collect::<Vec<_>>());
            if !m {
                for i in 1..parts.len() {
                    let parent: Vec<char> = parts[..i].join("/").chars().collect();
                    if glob(&pat, &parent) {
                        m = true;
                        break;
                    }
                }
            }
            if m {
                ignored = !p.exclusion;
            }
        }
        ignored
    }

    /// Whether some exception could re-include something under the ignored directory `dir` (so a walk
    /// must look inside it).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }
}

/// Match a class at the start of `p` against `c`; returns (matched, length of the class) or None if
/// it is not a well-formed class.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let neg = matches!(p.get(1), Some('!') | Some('^'));
    if neg {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let a = *p.get(i)?;
        if a == ']' && !first {
            return Some((hit != neg, i + 1));
        }
        first = false;
        let a = if a == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            a
        };
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|x| *x != ']') {
            let mut b = p[i + 2];
            let mut step = 3;
            if b == '\\' {
                b = *p.get(i + 3)?;
                step = 4;
            }
            if a <= c && c <= b {
                hit = true;
            }
            i += step;
        } else {
            if a == c {
                hit = true;
            }
            i += 1;
        }
    }
}

/// Glob match of the whole of `s`.
pub fn glob(p: &[char], s: &[char]) -> bool {
    if p.is_empty() {
        return s.is_empty();
    }
    match p[0] {
        '*' if p.get(1) == Some(&'*') => {
            // `**/` matches zero or more whole elements; `**` anything.
            if p.get(2) == Some(&'/') {
                let rest = &p[3..];
                if glob(rest, s) {
                    return true;
                }
                for i in 0..s.len() {
                    if s[i] == '/' && glob(rest, &s[i + 1..]) {
                        return true;
                    }
                }
                return false;
            }
            let rest = &p[2..];
            (0..=s.len()).any(|i| glob(rest, &s[i..]))
        }
        '*' => {
            let rest = &p[1..];
            for i in 0..=s.len() {
                if glob(rest, &s[i..]) {
                    return true;
                }
                if i < s.len() && s[i] == '/' {
                    break;
                }
            }
            false
        }
        '?' => !s.is_empty() && s[0] != '/' && glob(&p[1..], &s[1..]),
        '[' => match (s.first(), class(p, s.first().copied().unwrap_or('\0'))) {
            (Some(c), Some((hit, len))) => *c != '/' && hit && glob(&p[len..], &s[1..]),
            (Some(c), None) => *c == '[' && glob(&p[1..], &s[1..]),
            (None, _) => false,
        },
        '\\' if p.len() > 1 => !s.is_empty() && s[0] == p[1] && glob(&p[2..], &s[1..]),
        c => !s.is_empty() && s[0] == c && glob(&p[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_rules() {
        let ig = Ignore::parse(
            "# comment\n\n*.log\n!keep.log\n/build/\n**/node_modules\ndocs/**/*.md\n!docs/README.md\ntmp?\n[ab]x\n./a/../secret\n",
        );
        assert_eq!(ig.patterns[2].pattern, "build");
        assert_eq!(ig.patterns[8].pattern, "secret");
        for (p, want) in [
            ("x.log", true),
            ("keep.log", false),
            ("sub/x.log", false), // `*` stays within one element
            ("build", true),
            ("build/out/a.o", true), // a parent matches
            ("node_modules", true),
            ("web/app/node_modules/x/y.js", true),
            ("docs/a.md", true),
            ("docs/x/y/z.md", true),
            ("docs/README.md", false),
            ("docs/a.txt", false),
            ("tmp1", true),
            ("tmp12", false),
            ("ax", true),
            ("cx", false),
            ("secret", true),
            ("main.go", false),
        ] {
            assert_eq!(ig.ignored(p), want, "{p}");
        }
    }

    #[test]
    fn everything_but() {
        let ig = Ignore::parse("*\n!src\n!Dockerfile\nsrc/*.tmp\n");
        assert!(ig.ignored("README.md"));
        assert!(!ig.ignored("src/main.rs"));
        assert!(ig.ignored("src/a.tmp"));
        assert!(!ig.ignored("Dockerfile"));
        assert!(ig.has_exceptions());
        let ig = Ignore::parse("**\n");
        assert!(ig.ignored("a/b/c"));
        let ig = Ignore::parse("a\\*b\n");
        assert!(ig.ignored("a*b"));
        assert!(!ig.ignored("axb"));
        assert_eq!(clean("/a//b/./c/.."), "a/b");
    }
}

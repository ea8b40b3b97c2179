//! The part of Go's text/template that docker's `--format` flags are written in, over JSON:
//! `{{.A.B}}`, `{{json .}}`, pipelines, variables, `if`/`else`/`with`/`range`/`end`, `{{- -}}`
//! trimming, and the functions docker adds (`json`, `join`, `split`, `lower`, `upper`, `title`,
//! `pad`, `truncate`) beside Go's (`index`, `len`, `print`, `printf`, `println`, `eq`, `ne`, `lt`,
//! `le`, `gt`, `ge`, `and`, `or`, `not`). Values print as Go's `fmt` prints them.

use super::ordered::Json;

/// A template error, worded as Go words it (docker adds its own prefix).
#[derive(Debug, PartialEq)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

type R<T> = Result<T, TemplateError>;

mod funcs;
use funcs::{call, text_of, FUNCS};

/// A parsed template.
#[derive(Debug)]
pub struct Template {
    src: String,
    nodes: Vec<Node>,
}

#[derive(Debug)]
enum Node {
    Text(String),
    Action(Pipe),
    If(Vec<(Pipe, Vec<Node>)>, Vec<Node>),
    With(Vec<(Pipe, Vec<Node>)>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone)]
struct Pipe {
    decl: Vec<String>,
    cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone)]
enum Arg {
    /// `.A.B` (empty path: `.`), with its offset in the source.
    Field(Vec<String>, usize),
    Var(String, Vec<String>, usize),
    Func(String),
    Lit(Json),
    Sub(Box<Pipe>, Vec<String>, usize),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Ident(String),
    Lit(Json),
    Pipe,
    Open,
    Close,
    Declare,
    Comma,
}

/// The words of one action, each with its offset and whether it follows the previous one
/// without a space.
fn lex(src: &str, base: usize) -> R<Vec<(Tok, usize, bool)>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut joined = false;
    let path = |i: &mut usize| {
        let mut parts = Vec::new();
        while *i < b.len() && b[*i] == b'.' {
            let start = *i + 1;
            let mut j = start;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            if j > start {
                parts.push(src[start..j].to_string());
            }
            *i = j;
            if j == start {
                break;
            }
        }
        parts
    };
    while i < b.len() {
        let c = b[i];
        let mut at = base + i;
        if c.is_ascii_whitespace() {
            i += 1;
            joined = false;
            continue;
        }
        let tok = match c {
            b'|' => {
                i += 1;
                Tok::Pipe
            }
            b'(' => {
                i += 1;
                Tok::Open
            }
            b')' => {
                i += 1;
                Tok::Close
            }
            b',' => {
                i += 1;
                Tok::Comma
            }
            b':' if b.get(i + 1) == Some(&b'=') => {
                i += 2;
                Tok::Declare
            }
            b'=' => {
                i += 1;
                Tok::Declare
            }
            b'.' => {
                // Go places a chain (`.A.B`) at its second field.
                let start = i;
                let p = path(&mut i);
                if let Some(second) = src[start + 1..i].find('.') {
                    at = base + start + 1 + second;
                }
                Tok::Field(p)
            }
            b'$' => {
                let start = i;
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                let name = src[start..i].to_string();
                Tok::Var(name, path(&mut i))
            }
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                let lit = src.get(start..i.min(src.len())).unwrap_or("");
                let s: String = serde_json::from_str(lit)
                    .map_err(|_| TemplateError(format!("unterminated quoted string: {lit}")))?;
                Tok::Lit(Json::Str(s))
            }
            b'`' => {
                let start = i + 1;
                let end = src[start..]
                    .find('`')
                    .ok_or_else(|| TemplateError("unterminated raw quoted string".into()))?;
                i = start + end + 1;
                Tok::Lit(Json::Str(src[start..start + end].to_string()))
            }
            c if c.is_ascii_digit() || c == b'-' || c == b'+' => {
                let start = i;
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                    i += 1;
                }
                let word = &src[start..i];
                let n: serde_json::Number = serde_json::from_str(word.trim_start_matches('+'))
                    .map_err(|_| TemplateError(format!("bad number syntax: {word:?}")))?;
                Tok::Lit(Json::Num(n))
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                match &src[start..i] {
                    "true" => Tok::Lit(Json::Bool(true)),
                    "false" => Tok::Lit(Json::Bool(false)),
                    "nil" => Tok::Lit(Json::Null),
                    w => Tok::Ident(w.to_string()),
                }
            }
            _ => {
                return Err(TemplateError(format!(
                    "unexpected {:?} in command",
                    src[i..].chars().next().unwrap_or(' ')
                )))
            }
        };
        out.push((tok, at, joined));
        joined = true;
    }
    Ok(out)
}

/// The parser of one action's words.
struct Words {
    toks: Vec<(Tok, usize, bool)>,
    at: usize,
}

impl Words {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.0)
    }

    fn pipe(&mut self) -> R<Pipe> {
        let mut decl = Vec::new();
        // `$x :=` or `$i, $e :=`
        let save = self.at;
        while let Some(Tok::Var(name, p)) = self.peek().cloned() {
            if !p.is_empty() {
                break;
            }
            self.at += 1;
            decl.push(name);
            match self.peek() {
                Some(Tok::Comma) => self.at += 1,
                Some(Tok::Declare) => {
                    self.at += 1;
                    break;
                }
                _ => {
                    decl.clear();
                    self.at = save;
                    break;
                }
            }
        }
        let mut cmds = vec![];
        let mut cmd = vec![];
        while let Some(t) = self.peek().cloned() {
            match t {
                Tok::Close => break,
                Tok::Pipe => {
                    self.at += 1;
                    if cmd.is_empty() {
                        return Err(TemplateError("missing command".into()));
                    }
                    cmds.push(std::mem::take(&mut cmd));
                }
                _ => cmd.push(self.operand()?),
            }
        }
        if cmd.is_empty() {
            return Err(TemplateError("missing value for command".into()));
        }
        cmds.push(cmd);
        Ok(Pipe { decl, cmds })
    }

    fn operand(&mut self) -> R<Arg> {
        let (tok, at, _) = self.toks[self.at].clone();
        self.at += 1;
        Ok(match tok {
            Tok::Field(p) => Arg::Field(p, at),
            Tok::Var(n, p) => Arg::Var(n, p, at),
            Tok::Ident(f) if FUNCS.contains(&f.as_str()) => Arg::Func(f),
            Tok::Ident(f) => return Err(TemplateError(format!("function {f:?} not defined"))),
            Tok::Lit(j) => Arg::Lit(j),
            Tok::Open => {
                let inner = self.pipe()?;
                if self.peek() != Some(&Tok::Close) {
                    return Err(TemplateError("unclosed left paren".into()));
                }
                self.at += 1;
                let mut path = Vec::new();
                if let Some((Tok::Field(p), _, true)) = self.toks.get(self.at).cloned() {
                    self.at += 1;
                    path = p;
                }
                Arg::Sub(Box::new(inner), path, at)
            }
            other => return Err(TemplateError(format!("unexpected {other:?} in operand"))),
        })
    }
}

/// One `{{...}}` or the text between them.
enum Piece {
    Text(String),
    Action(String, usize),
}

/// Split the source into text and actions, trimming around `{{-` and `-}}`, dropping comments.
fn pieces(src: &str) -> R<Vec<Piece>> {
    let mut out = Vec::new();
    let mut rest = 0;
    let mut trim_next = false;
    while let Some(open) = src[rest..].find("{{") {
        let open = rest + open;
        let mut text = &src[rest..open];
        if trim_next {
            text = text.trim_start();
        }
        let mut start = open + 2;
        if src[start..].starts_with("- ") || src[start..].starts_with("-\t") {
            text = text.trim_end();
            start += 1;
        }
        if !text.is_empty() {
            out.push(Piece::Text(text.to_string()));
        }
        let close = src[start..]
            .find("}}")
            .map(|c| start + c)
            .ok_or_else(|| TemplateError("unclosed action".into()))?;
        let mut end = close;
        trim_next = false;
        if src[..close].ends_with(" -") || src[..close].ends_with("\t-") {
            end -= 1;
            trim_next = true;
        }
        let body = &src[start..end];
        if !body.trim_start().starts_with("/*") {
            out.push(Piece::Action(body.to_string(), start));
        }
        rest = close + 2;
    }
    let mut text = &src[rest..];
    if trim_next {
        text = text.trim_start();
    }
    if !text.is_empty() {
        out.push(Piece::Text(text.to_string()));
    }
    Ok(out)
}

/// How a list of nodes ended.
enum Close {
    Eof,
    End,
    Else(Option<Vec<(Tok, usize, bool)>>),
}

fn parse_list(it: &mut std::vec::IntoIter<Piece>) -> R<(Vec<Node>, Close)> {
    let mut nodes = Vec::new();
    while let Some(p) = it.next() {
        let (body, at) = match p {
            Piece::Text(t) => {
                nodes.push(Node::Text(t));
                continue;
            }
            Piece::Action(b, at) => (b, at),
        };
        let toks = lex(&body, at)?;
        let kw = match toks.first() {
            Some((Tok::Ident(k), ..)) => k.clone(),
            None => return Err(TemplateError("missing value for command".into())),
            _ => String::new(),
        };
        let words = |skip: usize| Words {
            toks: toks[skip..].to_vec(),
            at: 0,
        };
        match kw.as_str() {
            "end" => return Ok((nodes, Close::End)),
            "else" => {
                let rest = (toks.len() > 1).then(|| toks[1..].to_vec());
                return Ok((nodes, Close::Else(rest)));
            }
            "if" | "with" => {
                let mut branches = vec![];
                let mut cond = words(1).pipe()?;
                let otherwise = loop {
                    let (body, end) = parse_list(it)?;
                    branches.push((cond, body));
                    match end {
                        Close::End => break vec![],
                        Close::Eof => return Err(TemplateError("unexpected EOF".into())),
                        Close::Else(None) => {
                            let (body, end) = parse_list(it)?;
                            if !matches!(end, Close::End) {
                                return Err(TemplateError(format!("expected end in {kw}")));
                            }
                            break body;
                        }
                        Close::Else(Some(t)) => {
                            // `else if ...` / `else with ...`
                            let mut w = Words { toks: t, at: 0 };
                            if w.peek() == Some(&Tok::Ident(kw.clone())) {
                                w.at += 1;
                            }
                            cond = w.pipe()?;
                        }
                    }
                };
                nodes.push(if kw == "if" {
                    Node::If(branches, otherwise)
                } else {
                    Node::With(branches, otherwise)
                });
            }
            "range" => {
                let pipe = words(1).pipe()?;
                let (body, end) = parse_list(it)?;
                let otherwise = match end {
                    Close::End => vec![],
                    Close::Else(None) => parse_list(it)?.0,
                    _ => return Err(TemplateError("unexpected EOF".into())),
                };
                nodes.push(Node::Range(pipe, body, otherwise));
            }
            _ => nodes.push(Node::Action(words(0).pipe()?)),
        }
    }
    Ok((nodes, Close::Eof))
}

impl Template {
    /// Parse a template; errors read `template: :1: ...` as Go's.
    pub fn parse(src: &str) -> R<Template> {
        Template::parse_nodes(src).map_err(|e| TemplateError(format!("template: :1: {}", e.0)))
    }

    fn parse_nodes(src: &str) -> R<Template> {
        let mut it = pieces(src)?.into_iter();
        let (nodes, end) = parse_list(&mut it)?;
        match end {
            Close::Eof => Ok(Template {
                src: src.to_string(),
                nodes,
            }),
            Close::End => Err(TemplateError("unexpected {{end}}".into())),
            Close::Else(_) => Err(TemplateError("unexpected {{else}}".into())),
        }
    }

    /// The template applied to `data`.
    pub fn render(&self, data: &Json) -> R<String> {
        self.exec(data, None)
    }

    /// The template applied to a row of a list (docker's formatter contexts): `{{json .}}`
    /// escapes `<`, `>` and `&` as Go's `json.Marshal` does, and a field the row lacks is
    /// reported as missing from `type_name`.
    pub fn render_row(&self, data: &Json, type_name: &str) -> R<String> {
        self.exec(data, Some(type_name))
    }

    fn exec(&self, data: &Json, row_type: Option<&str>) -> R<String> {
        let mut ex = Exec {
            src: &self.src,
            vars: vec![("$".to_string(), V(data.clone(), None))],
            out: String::new(),
            row_type,
        };
        let dot = V(data.clone(), None);
        ex.list(&self.nodes, &dot)?;
        Ok(ex.out)
    }
}

/// A value and the name of the field it came from (Go prints a nil slice as `[]`, a map as
/// `map[...]` and a struct as `{...}`: the field's name says which it was).
#[derive(Clone, Debug)]
struct V(Json, Option<String>);

struct Exec<'a> {
    src: &'a str,
    vars: Vec<(String, V)>,
    out: String,
    /// The formatter context type when rendering a list's row.
    row_type: Option<&'a str>,
}

/// Fields the Engine API's objects hold as Go maps (the others are structs).
const MAPS: &[&str] = &[
    "Labels",
    "Options",
    "Networks",
    "Ports",
    "Volumes",
    "ExposedPorts",
    "Tmpfs",
    "Sysctls",
    "StorageOpt",
    "Data",
    "DriverOpts",
    "Annotations",
    "Containers",
    "Status",
    "Config",
];

/// Fields the Engine API's objects hold as Go slices.
const SLICES: &[&str] = &[
    "Cmd",
    "Entrypoint",
    "Env",
    "Args",
    "Binds",
    "Links",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "ExtraHosts",
    "CapAdd",
    "CapDrop",
    "SecurityOpt",
    "Mounts",
    "Devices",
    "Ulimits",
    "OnBuild",
    "Aliases",
    "DNSNames",
    "RepoTags",
    "RepoDigests",
    "Layers",
    "GroupAdd",
    "VolumesFrom",
    "Shell",
    "Test",
    "Log",
];

fn is_map(key: Option<&str>, v: &Json) -> bool {
    // An object under one of those names, unless it is a struct that shares the name
    // (`.Config`, `.State.Health.Status` are not maps; a container's Config has `Image`).
    match (key, v) {
        (Some("Config"), Json::Obj(m)) => !m.iter().any(|(k, _)| k == "Image" || k == "Env"),
        (Some(k), _) => MAPS.contains(&k),
        _ => false,
    }
}

/// A value as Go's `fmt.Print` shows it.
fn show(v: &V) -> String {
    let key = v.1.as_deref();
    match &v.0 {
        Json::Null if key.is_some_and(|k| SLICES.contains(&k)) => "[]".into(),
        Json::Null if is_map(key, &v.0) => "map[]".into(),
        Json::Null => "<nil>".into(),
        Json::Bool(b) => b.to_string(),
        Json::Num(n) => n.to_string(),
        Json::Str(s) => s.clone(),
        Json::Arr(a) => {
            let items: Vec<String> = a.iter().map(|x| show(&V(x.clone(), None))).collect();
            format!("[{}]", items.join(" "))
        }
        Json::Obj(m) if is_map(key, &v.0) => {
            let mut items: Vec<(&String, &Json)> = m.iter().map(|(k, v)| (k, v)).collect();
            items.sort_by(|a, b| a.0.cmp(b.0));
            let items: Vec<String> = items
                .iter()
                .map(|(k, x)| format!("{k}:{}", show(&V((*x).clone(), None))))
                .collect();
            format!("map[{}]", items.join(" "))
        }
        Json::Obj(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, x)| show(&V(x.clone(), Some(k.clone()))))
                .collect();
            format!("{{{}}}", items.join(" "))
        }
    }
}

/// Go's truth: false, 0, nil and empty things are false.
fn truth(v: &Json) -> bool {
    match v {
        Json::Null => false,
        Json::Bool(b) => *b,
        Json::Num(n) => n.as_f64() != Some(0.0),
        Json::Str(s) => !s.is_empty(),
        Json::Arr(a) => !a.is_empty(),
        Json::Obj(_) => true,
    }
}

impl Exec<'_> {
    fn err_at(&self, at: usize, what: &str, msg: &str) -> TemplateError {
        let line_start = self.src[..at].rfind('\n').map_or(0, |n| n + 1);
        let line = 1 + self.src[..at].matches('\n').count();
        TemplateError(format!(
            "template: :{line}:{}: executing \"\" at <{what}>: {msg}",
            at - line_start
        ))
    }

    fn list(&mut self, nodes: &[Node], dot: &V) -> R<()> {
        for n in nodes {
            let depth = self.vars.len();
            self.node(n, dot)?;
            // Variables declared inside a control structure end with it.
            if !matches!(n, Node::Action(_)) {
                self.vars.truncate(depth);
            }
        }
        Ok(())
    }

    fn node(&mut self, n: &Node, dot: &V) -> R<()> {
        match n {
            Node::Text(t) => self.out.push_str(t),
            Node::Action(p) => {
                let v = self.pipe(p, dot)?;
                if p.decl.is_empty() {
                    let s = show(&v);
                    self.out.push_str(&s);
                }
            }
            Node::If(branches, otherwise) | Node::With(branches, otherwise) => {
                let with = matches!(n, Node::With(..));
                for (cond, body) in branches {
                    let v = self.pipe(cond, dot)?;
                    if truth(&v.0) {
                        let d = if with { v } else { dot.clone() };
                        return self.list(body, &d);
                    }
                }
                self.list(otherwise, dot)?;
            }
            Node::Range(p, body, otherwise) => {
                let decl = p.decl.clone();
                let plain = Pipe {
                    decl: vec![],
                    cmds: p.cmds.clone(),
                };
                let v = self.pipe(&plain, dot)?;
                let items: Vec<(Json, V)> = match &v.0 {
                    Json::Arr(a) => a
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (Json::Num(i.into()), V(x.clone(), None)))
                        .collect(),
                    Json::Obj(m) => {
                        let mut m = m.clone();
                        m.sort_by(|a, b| a.0.cmp(&b.0));
                        m.into_iter()
                            .map(|(k, x)| (Json::Str(k), V(x, None)))
                            .collect()
                    }
                    Json::Null => vec![],
                    other => {
                        return Err(TemplateError(format!(
                            "range can't iterate over {}",
                            show(&V(other.clone(), None))
                        )))
                    }
                };
                if items.is_empty() {
                    return self.list(otherwise, dot);
                }
                for (k, x) in items {
                    let depth = self.vars.len();
                    match decl.as_slice() {
                        [e] => self.vars.push((e.clone(), x.clone())),
                        [i, e] => {
                            self.vars.push((i.clone(), V(k, None)));
                            self.vars.push((e.clone(), x.clone()));
                        }
                        _ => {}
                    }
                    self.list(body, &x)?;
                    self.vars.truncate(depth);
                }
            }
        }
        Ok(())
    }

    fn pipe(&mut self, p: &Pipe, dot: &V) -> R<V> {
        let mut last: Option<V> = None;
        for cmd in &p.cmds {
            last = Some(self.command(cmd, dot, last)?);
        }
        let v = last.unwrap_or(V(Json::Null, None));
        if let Some(name) = p.decl.last() {
            self.vars.push((name.clone(), v.clone()));
        }
        Ok(v)
    }

    fn command(&mut self, cmd: &[Arg], dot: &V, piped: Option<V>) -> R<V> {
        if let Some(Arg::Func(f)) = cmd.first() {
            let mut args = cmd[1..]
                .iter()
                .map(|a| self.arg(a, dot))
                .collect::<R<Vec<V>>>()?;
            args.extend(piped);
            if let (Some(_), "json", [arg]) = (self.row_type, f.as_str(), args.as_slice()) {
                if Some(&arg.0) == self.vars.first().map(|v| &v.1 .0) {
                    return Ok(V(Json::Str(go_marshal(&arg.0)), None));
                }
            }
            return call(f, &args);
        }
        // A row's methods with an argument (`{{.Label "com.example"}}`): the row carries their
        // values under the method's name behind a NUL, which no template can spell.
        if let (Some(_), Some(Arg::Field(path, at)), [key]) =
            (self.row_type, cmd.first(), &cmd[1..])
        {
            if let Some((name, parent)) = path.split_last() {
                let obj = self.walk(dot.clone(), parent, *at, "")?;
                if let Some(table) = obj.0.get(&format!("\0{name}")) {
                    let key = text_of(&self.arg(key, dot)?);
                    // A header row's table is null: its title is the key itself.
                    let found = match table {
                        Json::Null => Json::Str(key),
                        t => t.get(&key).cloned().unwrap_or(Json::Str(String::new())),
                    };
                    return Ok(V(found, None));
                }
            }
        }
        if cmd.len() > 1 || piped.is_some() {
            return Err(TemplateError(format!(
                "can't give argument to non-function {:?}",
                self.describe(&cmd[0])
            )));
        }
        self.arg(&cmd[0], dot)
    }

    fn describe(&self, a: &Arg) -> String {
        match a {
            Arg::Field(p, _) => format!(".{}", p.join(".")),
            Arg::Var(n, p, _) => std::iter::once(n.clone())
                .chain(p.clone())
                .collect::<Vec<_>>()
                .join("."),
            Arg::Func(f) => f.clone(),
            Arg::Lit(j) => j.compact(),
            Arg::Sub(..) => "(...)".into(),
        }
    }

    fn arg(&mut self, a: &Arg, dot: &V) -> R<V> {
        match a {
            Arg::Field(path, at) => self.walk(dot.clone(), path, *at, ""),
            Arg::Var(name, path, at) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| TemplateError(format!("undefined variable: {name}")))?;
                self.walk(v, path, *at, name)
            }
            Arg::Func(f) => call(f, &[]),
            Arg::Lit(j) => Ok(V(j.clone(), None)),
            Arg::Sub(p, path, at) => {
                let v = self.pipe(p, dot)?;
                self.walk(v, path, *at, "(...)")
            }
        }
    }

    /// Follow `.A.B` from `v`: a missing key of a struct is an error (docker's raw fallback
    /// reads objects with missingkey=error), of a map `<no value>`.
    fn walk(&self, mut v: V, path: &[String], at: usize, head: &str) -> R<V> {
        // Go shows the whole chain in its errors.
        let shown: String = std::iter::once(head.to_string())
            .chain(path.iter().map(|n| format!(".{n}")))
            .collect();
        for name in path {
            let map = is_map(v.1.as_deref(), &v.0);
            v = match &v.0 {
                Json::Obj(_) => match v.0.get(name) {
                    Some(x) => V(x.clone(), Some(name.clone())),
                    None if map => V(Json::Str("<no value>".into()), None),
                    // A map or slice field the daemon left out: Go's typed struct has it empty.
                    None if self.row_type.is_none()
                        && (MAPS.contains(&name.as_str()) || SLICES.contains(&name.as_str())) =>
                    {
                        V(Json::Null, Some(name.clone()))
                    }
                    None if self.row_type.is_some() => {
                        return Err(self.err_at(
                            at,
                            &shown,
                            &format!(
                                "can't evaluate field {name} in type {}",
                                self.row_type.unwrap_or_default()
                            ),
                        ))
                    }
                    None => {
                        return Err(self.err_at(
                            at,
                            &shown,
                            &format!("map has no entry for key {name:?}"),
                        ))
                    }
                },
                Json::Null => {
                    return Err(self.err_at(
                        at,
                        &shown,
                        &format!("nil pointer evaluating interface {{}}.{name}"),
                    ))
                }
                other => {
                    return Err(self.err_at(
                        at,
                        &shown,
                        &format!(
                            "can't evaluate field {name} in type {}",
                            match other {
                                Json::Str(_) => "string",
                                Json::Bool(_) => "bool",
                                Json::Arr(_) => "[]interface {}",
                                _ => "float64",
                            }
                        ),
                    ))
                }
            };
        }
        Ok(v)
    }
}

/// JSON as Go's `json.Marshal` writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped.
fn go_marshal(v: &Json) -> String {
    let shown = match v {
        Json::Obj(m) => Json::Obj(
            m.iter()
                .filter(|(k, _)| !k.starts_with('\0'))
                .cloned()
                .collect(),
        ),
        other => other.clone(),
    };
    let mut out = String::new();
    for c in shown.compact().chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &str, data: &str) -> Result<String, String> {
        Template::parse(t)
            .and_then(|t| t.render(&Json::parse(data).unwrap()))
            .map_err(|e| e.0)
    }

    const CT: &str = r#"{"Id":"abc","Name":"/u1","State":{"Status":"running","Pid":42,
        "Running":true,"Health":null},"Config":{"Image":"bb:1","Cmd":["sleep","1000"],
        "Entrypoint":null,"Labels":{"b":"2","a":"1"},"Env":["A=1"]},
        "HostConfig":{"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"Binds":null},
        "Mounts":[]}"#;

    #[test]
    fn fields_and_functions_print_as_docker_prints_them() {
        for (t, want) in [
            ("{{.State.Status}}", "running"),
            ("{{.State.Pid}} {{.State.Running}}", "42 true"),
            ("{{json .Config.Labels}}", r#"{"b":"2","a":"1"}"#),
            ("{{.Config.Labels}}", "map[a:1 b:2]"),
            ("{{.Config.Cmd}}|{{.Config.Entrypoint}}|{{.HostConfig.Binds}}", "[sleep 1000]|[]|[]"),
            ("{{.HostConfig.RestartPolicy}}", "{no 0}"),
            ("{{.State.Health}}", "<nil>"),
            ("{{json .Mounts}}", "[]"),
            ("{{range .Config.Cmd}}<{{.}}>{{end}}", "<sleep><1000>"),
            ("{{range $i, $c := .Config.Cmd}}{{$i}}={{$c}} {{end}}", "0=sleep 1=1000 "),
            ("{{range $k, $v := .Config.Labels}}{{$k}}{{$v}}{{end}}", "a1b2"),
            ("{{index .Config.Cmd 0}} {{index .Config.Labels \"a\"}}", "sleep 1"),
            ("{{join .Config.Cmd \",\"}} {{len .Config.Cmd}}", "sleep,1000 2"),
            ("{{upper .Name}} {{.Name | lower}} {{title \"ab cd\"}}", "/U1 /u1 Ab Cd"),
            ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
            ("{{if eq .State.Status \"exited\"}}x{{else if .State.Running}}r{{end}}", "r"),
            ("{{with .State}}{{.Status}}{{end}}", "running"),
            ("{{with .State.Health}}h{{else}}none{{end}}", "none"),
            ("{{range .Mounts}}m{{else}}no mounts{{end}}", "no mounts"),
            ("{{- /* a comment */ -}} a {{- .Id -}} b", "aabcb"),
            ("{{$n := .Name}}{{$n}}", "/u1"),
            ("{{printf \"%s:%d %q\" .Id .State.Pid .Name}}", "abc:42 \"/u1\""),
            ("{{.Config.Labels.a}}{{.Config.Labels.zz}}", "1<no value>"),
            ("{{.Config.ExposedPorts}}|{{.Config.Shell}}", "map[]|[]"),
            ("{{(index .Config.Cmd 1)}} {{json (index .Config.Cmd 1)}}", "1000 \"1000\""),
            ("{{println .Id}}", "abc\n"),
            ("{{.}}", "{abc /u1 {running 42 true <nil>} {bb:1 [sleep 1000] [] map[a:1 b:2] [A=1]} {{no 0} []} []}"),
        ] {
            assert_eq!(render(t, CT).as_deref(), Ok(want), "{t}");
        }
    }

    #[test]
    fn errors_read_like_go() {
        assert_eq!(
            render("x {{.State.Nope}}", CT).unwrap_err(),
            "template: :1:10: executing \"\" at <.State.Nope>: map has no entry for key \"Nope\""
        );
        assert!(render("{{.Id", CT).is_err());
        assert!(render("{{if .Id}}x", CT).is_err());
        assert!(render("{{end}}", CT).is_err());
        assert!(render("{{nosuch .Id}}", CT)
            .unwrap_err()
            .contains("not defined"));
        assert!(render("{{range .Id}}{{end}}", CT).is_err());
    }
}

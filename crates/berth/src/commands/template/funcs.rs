//! The functions templates call: docker's (`json`, `join`, `split`, `lower`, `upper`, `title`,
//! `pad`, `truncate`) and Go's (`index`, `len`, `print`, `printf`, `println`, `not`, `and`, `or`,
//! `eq`, `ne`, `lt`, `le`, `gt`, `ge`).

use super::{show, truth, Json, TemplateError, R, V};

/// The functions a template can call.
pub(super) const FUNCS: &[&str] = &[
    "json", "join", "split", "lower", "upper", "title", "pad", "truncate", "index", "len", "print",
    "printf", "println", "not", "and", "or", "eq", "ne", "lt", "le", "gt", "ge",
];

pub(super) fn text_of(v: &V) -> String {
    show(v)
}

fn num(v: &V) -> Option<f64> {
    match &v.0 {
        Json::Num(n) => n.as_f64(),
        _ => None,
    }
}

fn want(f: &str, args: &[V], n: usize) -> R<()> {
    if args.len() == n {
        Ok(())
    } else {
        Err(TemplateError(format!(
            "wrong number of args for {f}: want {n} got {}",
            args.len()
        )))
    }
}

/// Go's `fmt.Sprint`: spaces between operands when neither side is a string.
fn sprint(args: &[V]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = matches!(a.0, Json::Str(_));
        if i > 0 && !is_str && !matches!(args[i - 1].0, Json::Str(_)) {
            out.push(' ');
        }
        out.push_str(&show(a));
    }
    out
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %q %t %%` (widths are ignored).
fn sprintf(format: &str, args: &[V]) -> String {
    let mut out = String::new();
    let mut it = format.chars().peekable();
    let mut next = args.iter();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        // Skip flags and width.
        while it
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | ' ' | '#' | '.'))
        {
            it.next();
        }
        match it.next() {
            Some('%') => out.push('%'),
            Some('q') => match next.next() {
                Some(a) => out.push_str(&Json::Str(show(a)).compact()),
                None => out.push_str("%!q(MISSING)"),
            },
            Some(v) => match next.next() {
                Some(a) => out.push_str(&show(a)),
                None => out.push_str(&format!("%!{v}(MISSING)")),
            },
            None => out.push_str("%!(NOVERB)"),
        }
    }
    out
}

fn compare(f: &str, a: &V, b: &V) -> R<std::cmp::Ordering> {
    match (num(a), num(b)) {
        (Some(x), Some(y)) => Ok(x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal)),
        _ => match (&a.0, &b.0) {
            (Json::Str(x), Json::Str(y)) => Ok(x.cmp(y)),
            (Json::Bool(x), Json::Bool(y)) if matches!(f, "eq" | "ne") => Ok(x.cmp(y)),
            (Json::Null, Json::Null) if matches!(f, "eq" | "ne") => Ok(std::cmp::Ordering::Equal),
            _ => Err(TemplateError(format!(
                "error calling {f}: incompatible types for comparison"
            ))),
        },
    }
}

pub(super) fn call(f: &str, args: &[V]) -> R<V> {
    let s = |x: String| Ok(V(Json::Str(x), None));
    let b = |x: bool| Ok(V(Json::Bool(x), None));
    match f {
        "json" => {
            want(f, args, 1)?;
            s(args[0].0.compact())
        }
        "join" => {
            want(f, args, 2)?;
            let items: Vec<String> = match &args[0].0 {
                Json::Arr(a) => a.iter().map(|x| show(&V(x.clone(), None))).collect(),
                Json::Null => vec![],
                _ => return Err(TemplateError("error calling join: not a list".into())),
            };
            s(items.join(&text_of(&args[1])))
        }
        "split" => {
            want(f, args, 2)?;
            let parts = text_of(&args[0])
                .split(&text_of(&args[1]))
                .map(|p| Json::Str(p.to_string()))
                .collect();
            Ok(V(Json::Arr(parts), None))
        }
        "lower" => {
            want(f, args, 1)?;
            s(text_of(&args[0]).to_lowercase())
        }
        "upper" => {
            want(f, args, 1)?;
            s(text_of(&args[0]).to_uppercase())
        }
        "title" => {
            want(f, args, 1)?;
            let mut out = String::new();
            let mut start = true;
            for c in text_of(&args[0]).chars() {
                if start && c.is_alphabetic() {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                start = !c.is_alphanumeric();
            }
            s(out)
        }
        "truncate" => {
            want(f, args, 2)?;
            let n = num(&args[1]).unwrap_or(0.0) as usize;
            s(text_of(&args[0]).chars().take(n).collect())
        }
        "pad" => {
            want(f, args, 3)?;
            let l = num(&args[1]).unwrap_or(0.0) as usize;
            let r = num(&args[2]).unwrap_or(0.0) as usize;
            s(format!(
                "{}{}{}",
                " ".repeat(l),
                text_of(&args[0]),
                " ".repeat(r)
            ))
        }
        "len" => {
            want(f, args, 1)?;
            let n = match &args[0].0 {
                Json::Arr(a) => a.len(),
                Json::Obj(m) => m.len(),
                Json::Str(x) => x.len(),
                Json::Null => 0,
                _ => return Err(TemplateError("error calling len: len of type".into())),
            };
            Ok(V(Json::Num(n.into()), None))
        }
        "index" => {
            let Some((first, keys)) = args.split_first() else {
                return Err(TemplateError("wrong number of args for index".into()));
            };
            let mut v = first.clone();
            for k in keys {
                v = match (&v.0, &k.0) {
                    (Json::Arr(a), Json::Num(n)) => {
                        let i = n.as_u64().unwrap_or(u64::MAX) as usize;
                        V(
                            a.get(i).cloned().ok_or_else(|| {
                                TemplateError(format!(
                                    "error calling index: index out of range: {n}"
                                ))
                            })?,
                            None,
                        )
                    }
                    (Json::Obj(_), Json::Str(key)) => V(
                        v.0.get(key).cloned().unwrap_or(Json::Str(String::new())),
                        None,
                    ),
                    (Json::Null, _) => V(Json::Null, None),
                    _ => {
                        return Err(TemplateError(
                            "error calling index: cannot index with that key".into(),
                        ))
                    }
                };
            }
            Ok(v)
        }
        "print" => s(sprint(args)),
        "println" => {
            let items: Vec<String> = args.iter().map(show).collect();
            s(items.join(" ") + "\n")
        }
        "printf" => {
            let Some((fmt, rest)) = args.split_first() else {
                return Err(TemplateError("wrong number of args for printf".into()));
            };
            s(sprintf(&text_of(fmt), rest))
        }
        "not" => {
            want(f, args, 1)?;
            b(!truth(&args[0].0))
        }
        "and" => Ok(args
            .iter()
            .find(|a| !truth(&a.0))
            .or(args.last())
            .cloned()
            .unwrap_or(V(Json::Null, None))),
        "or" => Ok(args
            .iter()
            .find(|a| truth(&a.0))
            .or(args.last())
            .cloned()
            .unwrap_or(V(Json::Null, None))),
        "eq" | "ne" => {
            let Some((a, rest)) = args.split_first() else {
                return Err(TemplateError(format!("wrong number of args for {f}")));
            };
            let mut eq = false;
            for other in rest {
                eq |= compare(f, a, other)? == std::cmp::Ordering::Equal;
            }
            b(if f == "eq" { eq } else { !eq })
        }
        "lt" | "le" | "gt" | "ge" => {
            want(f, args, 2)?;
            let o = compare(f, &args[0], &args[1])?;
            use std::cmp::Ordering::*;
            b(match f {
                "lt" => o == Less,
                "le" => o != Greater,
                "gt" => o == Greater,
                _ => o != Less,
            })
        }
        _ => Err(TemplateError(format!("function {f:?} not defined"))),
    }
}

//! The build plan: the ARGs before the first FROM (meta args, for FROM lines only), the stages (`AS`
//! names, `--target` cut), the `labels` parameter as a last LABEL, the step count, and build args
//! (`ARG` declares, `buildargs` override defaults, the proxy args need no declaration).

use crate::parser::{Args, Dockerfile, Instruction};
use crate::shell;
use crate::BuildError;
use std::collections::{BTreeMap, BTreeSet};

/// Args that RUN sees without an `ARG` line (and that stay out of the cache key and history).
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// One stage.
#[derive(Clone, Debug)]
pub struct StagePlan {
    /// Its FROM line.
    pub from: Instruction,
    /// The `AS` name (lower case).
    pub name: Option<String>,
    /// Its other instructions.
    pub commands: Vec<Instruction>,
}

/// The whole plan.
#[derive(Clone, Debug)]
pub struct Plan {
    /// ARG lines before the first FROM.
    pub meta_args: Vec<Instruction>,
    /// Stages up to the target.
    pub stages: Vec<StagePlan>,
    /// `Step N/M`'s M.
    pub total_steps: usize,
}

fn stage_name(from: &Instruction) -> Result<Option<String>, BuildError> {
    let Args::Shell(s) = &from.args else {
        return Err(BuildError::Invalid(
            "FROM requires a shell-form argument".into(),
        ));
    };
    let w: Vec<&str> = s.split_whitespace().collect();
    match w.len() {
        1 => Ok(None),
        3 if w[1].eq_ignore_ascii_case("as") => {
            let n = w[2].to_ascii_lowercase();
            let ok = n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !ok {
                return Err(BuildError::Invalid(format!("invalid name for build stage: {:?}, name can't start with a number or contain symbols", w[2])));
            }
            Ok(Some(n))
        }
        _ => Err(BuildError::Invalid(
            "FROM requires either one or three arguments".into(),
        )),
    }
}

/// Plan a Dockerfile.
pub fn plan(
    df: &Dockerfile,
    target: Option<&str>,
    labels: &BTreeMap<String, String>,
) -> Result<Plan, BuildError> {
    let mut meta_args = Vec::new();
    let mut stages: Vec<StagePlan> = Vec::new();
    for ins in &df.instructions {
        if ins.keyword == "FROM" {
            stages.push(StagePlan {
                name: stage_name(ins)?,
                from: ins.clone(),
                commands: vec![],
            });
        } else if let Some(s) = stages.last_mut() {
            s.commands.push(ins.clone());
        } else if ins.keyword == "ARG" {
            meta_args.push(ins.clone());
        } else {
            return Err(BuildError::Invalid(
                "Please provide a source image with `from` prior to commit".into(),
            ));
        }
    }
    if stages.is_empty() {
        return Err(BuildError::Invalid("file with no instructions".into()));
    }
    let mut seen = BTreeSet::new();
    for s in &stages {
        if let Some(n) = &s.name {
            if !seen.insert(n.clone()) {
                return Err(BuildError::Invalid(format!(
                    "duplicate name {n} for build stage"
                )));
            }
        }
    }
    if let Some(t) = target.filter(|t| !t.is_empty()) {
        let t = t.to_ascii_lowercase();
        let i = stages
            .iter()
            .position(|s| s.name.as_deref() == Some(t.as_str()))
            .ok_or_else(|| {
                BuildError::Invalid(format!("failed to reach build target {t} in Dockerfile"))
            })?;
        stages.truncate(i + 1);
    }
    if !labels.is_empty() {
        let pairs: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{:?}={:?}", k, v))
            .collect();
        let line = format!("LABEL {}", pairs.join(" "));
        let ins = crate::parser::parse_instruction(&line, 0)?;
        stages.last_mut().expect("a stage").commands.push(ins);
    }
    let total_steps = meta_args.len() + stages.iter().map(|s| 1 + s.commands.len()).sum::<usize>();
    Ok(Plan {
        meta_args,
        stages,
        total_steps,
    })
}

/// Build args: what the request gave, what ARG lines declared, and which were used.
#[derive(Clone, Debug, Default)]
pub struct BuildArgs {
    /// `buildargs` (a `null` value: declared by the client without a value).
    pub given: BTreeMap<String, Option<String>>,
    /// Meta args (before FROM) with their values.
    pub meta: BTreeMap<String, Option<String>>,
    /// Names an ARG line or a proxy arg used.
    pub used: BTreeSet<String>,
}

impl BuildArgs {
    /// From the request's `buildargs`.
    pub fn new(given: BTreeMap<String, Option<String>>) -> Self {
        BuildArgs {
            given,
            ..Default::default()
        }
    }

    /// `ARG` lines: `(name, default)` pairs (defaults substituted with `vars`).
    pub fn parse_arg(
        ins: &Instruction,
        escape: char,
        vars: &dyn shell::Vars,
    ) -> Result<Vec<(String, Option<String>)>, BuildError> {
        let Args::Shell(s) = &ins.args else {
            return Err(BuildError::Invalid(
                "ARG requires at least one argument".into(),
            ));
        };
        let mut out = Vec::new();
        for w in shell::split_raw(s, escape) {
            match w.split_once('=') {
                Some((k, v)) => out.push((k.to_string(), Some(shell::word(v, escape, vars)?))),
                None => out.push((w.clone(), None)),
            }
        }
        for (k, _) in &out {
            if k.is_empty() {
                return Err(BuildError::Invalid("ARG names can not be blank".into()));
            }
        }
        Ok(out)
    }

    /// The value an `ARG name[=default]` takes: the request's value, else the default, else (in a
    /// stage) the meta arg's value.
    pub fn resolve(
        &mut self,
        name: &str,
        default: Option<String>,
        in_stage: bool,
    ) -> Option<String> {
        self.used.insert(name.to_string());
        if let Some(v) = self.given.get(name) {
            if v.is_some() {
                return v.clone();
            }
        }
        if default.is_some() {
            return default;
        }
        if in_stage {
            if let Some(v) = self.meta.get(name) {
                return v.clone();
            }
        }
        None
    }

    /// Proxy args the request gave (RUN sees them even undeclared).
    pub fn proxies(&mut self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for p in PROXY_ARGS {
            if let Some(Some(v)) = self.given.get(*p) {
                self.used.insert(p.to_string());
                out.push((p.to_string(), v.clone()));
            }
        }
        out
    }

    /// Names given but never used (the classic builder's warning).
    pub fn unused(&self) -> Vec<String> {
        self.given
            .keys()
            .filter(|k| !self.used.contains(*k))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    const DF: &str = "ARG V=1\nFROM busybox:$V AS base\nRUN a\nFROM base AS two\nCOPY x y\nFROM scratch\nCMD x\n";

    #[test]
    fn stages_target_and_count() {
        let df = parse(DF).unwrap();
        let p = plan(&df, None, &BTreeMap::new()).unwrap();
        assert_eq!(p.meta_args.len(), 1);
        assert_eq!(p.stages.len(), 3);
        assert_eq!(p.stages[0].name.as_deref(), Some("base"));
        assert_eq!(p.total_steps, 7);
        let p = plan(&df, Some("TWO"), &BTreeMap::new()).unwrap();
        assert_eq!(p.stages.len(), 2);
        assert_eq!(p.total_steps, 5);
        let e = plan(&df, Some("nope"), &BTreeMap::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to reach build target nope in Dockerfile"
        );
        let labels = [("a".to_string(), "b c".to_string())].into();
        let p = plan(&df, None, &labels).unwrap();
        assert_eq!(p.total_steps, 8);
        assert_eq!(p.stages[2].commands[1].original, "LABEL \"a\"=\"b c\"");
        assert!(plan(&parse("RUN x\nFROM a").unwrap(), None, &BTreeMap::new()).is_err());
        assert!(plan(
            &parse("FROM a AS x\nFROM b AS X").unwrap(),
            None,
            &BTreeMap::new()
        )
        .is_err());
    }

    #[test]
    fn arg_values() {
        let mut a = BuildArgs::new(
            [
                ("V".to_string(), Some("2".to_string())),
                ("N".to_string(), None),
                ("HTTP_PROXY".to_string(), Some("http://p".to_string())),
                ("UNUSED".to_string(), Some("x".to_string())),
            ]
            .into(),
        );
        a.meta.insert("M".into(), Some("meta".into()));
        assert_eq!(a.resolve("V", Some("1".into()), true), Some("2".into()));
        assert_eq!(a.resolve("N", Some("d".into()), true), Some("d".into()));
        assert_eq!(a.resolve("M", None, true), Some("meta".into()));
        assert_eq!(a.resolve("M", None, false), None);
        assert_eq!(
            a.proxies(),
            [("HTTP_PROXY".to_string(), "http://p".to_string())]
        );
        assert_eq!(a.unused(), ["UNUSED"]);
        let ins = crate::parser::parse_instruction("ARG A=\"x y\" B C=${V:-z}", 1).unwrap();
        let vars: Vec<(String, String)> = vec![];
        assert_eq!(
            BuildArgs::parse_arg(&ins, '\\', &vars).unwrap(),
            [
                ("A".to_string(), Some("x y".to_string())),
                ("B".to_string(), None),
                ("C".to_string(), Some("z".to_string()))
            ]
        );
    }
}

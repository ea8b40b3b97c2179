//! The json-file driver's extra attributes, as dockerd's: the `attrs` object of every log line,
//! made of the container's labels named by the `labels` option (a comma-separated list) or
//! matching `labels-regex`, its environment variables named by `env` or matching `env-regex`, and
//! `tag` when the user gave one. They are fixed for a run of the container: berthd computes them
//! at start ([`attrs_json`]) and hands the shim the serialised object, which it copies into each
//! line.
//!
//! `tag` is a Go template in dockerd; berthd renders its markers `{{.ID}}` (12 digits),
//! `{{.FullID}}`, `{{.Name}}`, `{{.ImageID}}` (12 digits), `{{.ImageFullID}}`, `{{.ImageName}}`
//! and `{{.DaemonName}}` (`docker`), and refuses any other action at create with a 400 (dockerd
//! accepts the rest of Go's template language and fails at start instead).

use std::collections::BTreeMap;

/// What the attributes are computed from.
pub struct LogInfo<'a> {
    /// 64 hex digits.
    pub id: &'a str,
    /// Without the leading slash.
    pub name: &'a str,
    /// `sha256:` and 64 hex digits.
    pub image_id: &'a str,
    /// The image as the request named it (`Config.Image`).
    pub image_name: &'a str,
    /// `NAME=value`, the image's then the request's.
    pub env: &'a [String],
    /// The container's labels (the image's included).
    pub labels: &'a BTreeMap<String, String>,
}

/// A marker of the tag template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    FullId,
    Name,
    ImageId,
    ImageFullId,
    ImageName,
    DaemonName,
}

const FIELDS: [(&str, Field); 7] = [
    (".ID", Field::Id),
    (".FullID", Field::FullId),
    (".Name", Field::Name),
    (".ImageID", Field::ImageId),
    (".ImageFullID", Field::ImageFullId),
    (".ImageName", Field::ImageName),
    (".DaemonName", Field::DaemonName),
];

#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Field(Field),
}

/// The template's pieces, or why it is refused.
fn parse_tag(t: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            out.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| format!("tag {t:?}: unclosed action"))?;
        // Go's `{{- x -}}` trims the text around; only the spaces inside are taken here.
        let action = after[..close].trim();
        let field = FIELDS
            .iter()
            .find(|(n, _)| *n == action)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                format!(
                    "tag {t:?}: unsupported template action {{{{{}}}}}; berthd supports {}",
                    &after[..close],
                    FIELDS
                        .iter()
                        .map(|(n, _)| format!("{{{{{n}}}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        out.push(Piece::Field(field));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// dockerd's short ID: without the algorithm, at most 12 characters.
fn short(id: &str) -> &str {
    let id = id.split_once(':').map_or(id, |(_, h)| h);
    id.get(..12).unwrap_or(id)
}

/// The tag for `info`.
fn render_tag(pieces: &[Piece], info: &LogInfo) -> String {
    let mut s = String::new();
    for p in pieces {
        s.push_str(match p {
            Piece::Text(t) => t,
            Piece::Field(Field::Id) => short(info.id),
            Piece::Field(Field::FullId) => info.id,
            Piece::Field(Field::Name) => info.name,
            Piece::Field(Field::ImageId) => short(info.image_id),
            Piece::Field(Field::ImageFullId) => info.image_id,
            Piece::Field(Field::ImageName) => info.image_name,
            Piece::Field(Field::DaemonName) => "docker",
        });
    }
    s
}

/// `template` rendered for `info` (a remote driver's tag, its default template when the user gave
/// none).
pub fn tag(template: &str, info: &LogInfo) -> Result<String, String> {
    Ok(render_tag(&parse_tag(template)?, info))
}

fn regex(opt: &str, re: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(re).map_err(|e| {
        let why = e.to_string();
        let why = why.lines().last().unwrap_or_default().trim().to_string();
        format!("{opt} {re:?}: invalid regular expression: {why}")
    })
}

/// Check the options that make attributes (the template, the expressions) as a create does.
pub fn validate(opts: &BTreeMap<String, String>) -> Result<(), String> {
    if let Some(t) = opts.get("tag") {
        parse_tag(t)?;
    }
    for k in ["labels-regex", "env-regex"] {
        if let Some(re) = opts.get(k).filter(|r| !r.is_empty()) {
            regex(k, re)?;
        }
    }
    Ok(())
}

/// The attributes as dockerd's `ExtraAttributes` and `ParseLogTag` make them (empty: none).
pub fn attrs(
    opts: &BTreeMap<String, String>,
    info: &LogInfo,
) -> Result<BTreeMap<String, String>, String> {
    let mut extra = BTreeMap::new();
    let listed = |k: &str| {
        opts.get(k)
            .filter(|v| !v.is_empty())
            .into_iter()
            .flat_map(|v| v.split(','))
    };
    for l in listed("labels") {
        if let Some(v) = info.labels.get(l) {
            extra.insert(l.to_string(), v.clone());
        }
    }
    if let Some(re) = opts.get("labels-regex").filter(|r| !r.is_empty()) {
        let re = regex("labels-regex", re)?;
        for (k, v) in info.labels.iter().filter(|(k, _)| re.is_match(k)) {
            extra.insert(k.clone(), v.clone());
        }
    }
    // The last of a name wins, as in dockerd's map.
    let env: BTreeMap<&str, &str> = info.env.iter().filter_map(|e| e.split_once('=')).collect();
    for l in listed("env") {
        if let Some(v) = env.get(l) {
            extra.insert(l.to_string(), v.to_string());
        }
    }
    if let Some(re) = opts.get("env-regex").filter(|r| !r.is_empty()) {
        let re = regex("env-regex", re)?;
        for (k, v) in env.iter().filter(|(k, _)| re.is_match(k)) {
            extra.insert(k.to_string(), v.to_string());
        }
    }
    // No default template: a tag only when the user asked for one.
    if let Some(t) = opts.get("tag").filter(|t| !t.is_empty()) {
        let tag = render_tag(&parse_tag(t)?, info);
        if !tag.is_empty() {
            extra.insert("tag".into(), tag);
        }
    }
    Ok(extra)
}

/// [`attrs`] as the JSON object the shim copies into each line (`None`: no attributes).
pub fn attrs_json(
    opts: &BTreeMap<String, String>,
    info: &LogInfo,
) -> Result<Option<String>, String> {
    let a = attrs(opts, info)?;
    Ok((!a.is_empty()).then(|| serde_json::to_string(&a).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn info<'a>(env: &'a [String], labels: &'a BTreeMap<String, String>) -> LogInfo<'a> {
        LogInfo {
            id: "315ae5780d2f71ee048e8fb10bbca293dd2d32fc3da3e225d633b0c236d89489",
            name: "web",
            image_id: "sha256:62db5318dc3fce0efe78e879f8bfb4a9d75f1ebabd1b5911af9d7ad6a9827580",
            image_name: "bb:t",
            env,
            labels,
        }
    }

    #[test]
    fn tag_markers_render_and_others_are_refused() {
        let (env, labels) = (Vec::new(), BTreeMap::new());
        let i = info(&env, &labels);
        let t = "{{.Name}}/{{.ID}}/{{ .ImageID }}/{{.ImageName}}/{{.DaemonName}}";
        assert_eq!(
            render_tag(&parse_tag(t).unwrap(), &i),
            "web/315ae5780d2f/62db5318dc3f/bb:t/docker"
        );
        let full = render_tag(&parse_tag("x{{.FullID}}-{{.ImageFullID}}}").unwrap(), &i);
        assert_eq!(full, format!("x{}-{}}}", i.id, i.image_id));
        assert_eq!(render_tag(&parse_tag("plain").unwrap(), &i), "plain");
        let e = parse_tag("{{.Foo}}").unwrap_err();
        assert!(e.contains("unsupported template action {{.Foo}}"), "{e}");
        assert!(e.contains("{{.ImageFullID}}"), "{e}");
        assert!(parse_tag("{{json .ContainerLabels}}").is_err());
        assert!(parse_tag("{{.Name")
            .unwrap_err()
            .contains("unclosed action"));
        assert!(validate(&opts(&[("tag", "{{.ID")])).is_err());
    }

    #[test]
    fn attributes_as_dockerd_makes_them() {
        let env: Vec<String> = ["E=x", "E1=a", "E2=b", "X=c", "E=y", "NOVALUE"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let labels = opts(&[("a", "1"), ("la", "2"), ("lb", "3"), ("x", "4")]);
        let i = info(&env, &labels);
        let a = attrs(
            &opts(&[
                ("labels", "a,missing"),
                ("env", "E,NOVALUE"),
                ("tag", "{{.Name}}"),
            ]),
            &i,
        )
        .unwrap();
        assert_eq!(a, opts(&[("E", "y"), ("a", "1"), ("tag", "web")]));
        let a = attrs(
            &opts(&[("labels-regex", "^l"), ("env-regex", "^E[0-9]")]),
            &i,
        )
        .unwrap();
        assert_eq!(
            a,
            opts(&[("E1", "a"), ("E2", "b"), ("la", "2"), ("lb", "3")])
        );
        assert_eq!(
            attrs_json(&opts(&[("labels", "a"), ("env", "X")]), &i).unwrap(),
            Some(r#"{"X":"c","a":"1"}"#.into())
        );
        assert_eq!(attrs_json(&opts(&[("max-size", "1m")]), &i).unwrap(), None);
        assert!(validate(&opts(&[("env-regex", "(")])).is_err());
        assert!(validate(&opts(&[("labels-regex", "")])).is_ok());
    }
}

//! `inspect` and the groups' `container inspect`, `image inspect`, `network inspect`, `volume
//! inspect`: the daemon's JSON indented as docker indents it (its key order kept), or each object
//! through `-f/--format` (`json`, or a Go template).

use anyhow::{bail, Result};
use clap::Args;

use super::ordered::Json;
use super::template::Template;
use crate::client::{q, Body, Client, DaemonError};

/// The kinds of object `inspect --type` takes, in the order docker tries them without it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Container,
    Image,
    Network,
    Volume,
    Service,
    Task,
    Node,
    Plugin,
    Secret,
    Config,
}

const KINDS: [(&str, Kind); 10] = [
    ("config", Kind::Config),
    ("container", Kind::Container),
    ("image", Kind::Image),
    ("network", Kind::Network),
    ("node", Kind::Node),
    ("plugin", Kind::Plugin),
    ("secret", Kind::Secret),
    ("service", Kind::Service),
    ("task", Kind::Task),
    ("volume", Kind::Volume),
];

impl Kind {
    /// The API path that inspects `name` as this kind.
    fn path(self, name: &str, size: bool) -> String {
        let n = q(name);
        match self {
            Kind::Container => format!("/containers/{n}/json{}", if size { "?size=1" } else { "" }),
            // Image references keep their `/` and `:` in the path, as docker sends them.
            Kind::Image => format!("/images/{name}/json"),
            Kind::Network => format!("/networks/{n}"),
            Kind::Volume => format!("/volumes/{n}"),
            Kind::Service => format!("/services/{n}?insertDefaults=false"),
            Kind::Task => format!("/tasks/{n}"),
            Kind::Node => format!("/nodes/{n}"),
            Kind::Plugin => format!("/plugins/{name}/json"),
            Kind::Secret => format!("/secrets/{n}"),
            Kind::Config => format!("/configs/{n}"),
        }
    }
}

/// `inspect`'s flags.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Only inspect objects of the given type
    #[arg(long = "type", value_name = "TYPE")]
    kind: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    size: bool,
    #[command(flatten)]
    format: FormatArgs,
}

/// The flags of every group's `inspect`.
#[derive(Args, Debug, Clone)]
pub struct FormatArgs {
    /// Format output using a custom template: 'json' or a Go template (e.g. '{{.State.Status}}')
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true, value_name = "NAME|ID")]
    pub names: Vec<String>,
}

/// `container inspect`: the format flags and `-s`.
#[derive(Args, Debug)]
pub struct ContainerInspectArgs {
    /// Display total file sizes
    #[arg(short = 's', long)]
    size: bool,
    #[command(flatten)]
    format: FormatArgs,
}

/// `inspect NAME...`: each name as the `--type` given, or as the first kind that has it.
pub fn inspect(c: &Client, a: &InspectArgs) -> Result<i32> {
    let kind = match a.kind.as_deref() {
        None | Some("") => None,
        Some(t) => match KINDS.iter().find(|(n, _)| *n == t) {
            Some((_, k)) => Some(*k),
            None => {
                let all: Vec<String> = KINDS.iter().map(|(n, _)| format!("{n:?}")).collect();
                bail!("unknown type: {t:?}: must be one of {}", all.join(", "));
            }
        },
    };
    match kind {
        Some(k) => objects(c, k, a.size, &a.format),
        None => {
            let t = template(a.format.format.as_deref())?;
            show_each(&a.format.names, t.as_ref(), |n| {
                [
                    Kind::Container,
                    Kind::Image,
                    Kind::Network,
                    Kind::Volume,
                    Kind::Plugin,
                ]
                .iter()
                .find_map(|k| fetch(c, &k.path(n, a.size && *k == Kind::Container)).ok())
                .ok_or_else(|| anyhow::anyhow!("Error: No such object: {n}"))
            })
        }
    }
}

/// `container inspect`.
pub fn containers(c: &Client, a: &ContainerInspectArgs) -> Result<i32> {
    objects(c, Kind::Container, a.size, &a.format)
}

/// Inspect each name as one kind of object.
pub fn objects(c: &Client, kind: Kind, size: bool, f: &FormatArgs) -> Result<i32> {
    let t = template(f.format.as_deref())?;
    show_each(&f.names, t.as_ref(), |n| fetch(c, &kind.path(n, size)))
}

/// GET an object as the daemon sent it.
fn fetch(c: &Client, path: &str) -> Result<Json> {
    let text = c.request("GET", path, &[], Body::Empty)?.ok()?.text()?;
    Ok(Json::parse(&text)?)
}

/// What `-f` asks for: a template, or `None` for docker's indented JSON or `json`'s one line.
enum Format {
    Json,
    Template(Template),
}

fn template(format: Option<&str>) -> Result<Option<Format>> {
    Ok(match format {
        None | Some("") => None,
        Some("json") => Some(Format::Json),
        Some(t) => {
            Some(Format::Template(Template::parse(t).map_err(|e| {
                anyhow::anyhow!("template parsing error: {e}")
            })?))
        }
    })
}

/// Fetch each name with `get`; print what was found as docker does (the errors on stderr as they
/// happen); 1 if any was not.
fn show_each(
    names: &[String],
    f: Option<&Format>,
    get: impl Fn(&str) -> Result<Json>,
) -> Result<i32> {
    let mut found = Vec::new();
    let mut rendered = 0;
    let mut code = 0;
    for n in names {
        match get(n) {
            Ok(v) => {
                if let Some(Format::Template(t)) = f {
                    match t.render(&v) {
                        Ok(out) => {
                            println!("{out}");
                            rendered += 1;
                        }
                        Err(e) => {
                            eprintln!("template parsing error: {e}");
                            code = 1;
                        }
                    }
                } else {
                    found.push(v);
                }
            }
            Err(e) => {
                match e.downcast_ref::<DaemonError>() {
                    Some(d) => eprintln!("{d}"),
                    None => eprintln!("{e:#}"),
                }
                code = 1;
            }
        }
    }
    match f {
        // docker's template inspector writes one empty line when nothing rendered.
        Some(Format::Template(_)) if rendered == 0 => println!(),
        Some(Format::Template(_)) => {}
        Some(Format::Json) => println!("{}", Json::Arr(found).compact()),
        None => println!("{}", Json::Arr(found).indented()),
    }
    Ok(code)
}

//! Section 4: the images and what the containers run as. Engine API only, so it works against a
//! remote engine. The manual checks report what a reviewer needs (images, their history steps).

use serde_json::Value;

use crate::containers::runs_as_root;
use crate::{container_name, image_name, sorted, Ctx, Verdict};

pub(crate) fn check(ctx: &Ctx, id: &str) -> Verdict {
    match id {
        "4.1" => match &ctx.containers {
            Err(e) => Verdict::skipped(format!("cannot list the containers: {e}")),
            Ok(cs) if cs.is_empty() => Verdict::skipped("no running containers"),
            Ok(cs) => Verdict::unless_any(
                sorted(
                    cs.iter()
                        .filter(|c| runs_as_root(c["Config"]["User"].as_str().unwrap_or("")))
                        .map(container_name)
                        .collect(),
                ),
                "containers running as root",
            ),
        },
        "4.5" if ctx.client.content_trust => {
            Verdict::pass_because("DOCKER_CONTENT_TRUST=1 in the client's environment")
        }
        "4.5" => Verdict::fail(
            "content trust is off (DOCKER_CONTENT_TRUST is not 1 in the client's environment)",
            Vec::new(),
        ),
        _ => {
            let images = match &ctx.images {
                Err(e) => return Verdict::skipped(format!("cannot list the images: {e}")),
                Ok(i) => i,
            };
            by_image(ctx, id, images)
        }
    }
}

fn names(images: &[Value], f: impl Fn(&Value) -> bool) -> Vec<String> {
    sorted(images.iter().filter(|i| f(i)).map(image_name).collect())
}

/// Images with a history step for which `f` holds, with that step.
fn history_steps(ctx: &Ctx, images: &[Value], f: impl Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for i in images {
        let id = i["Id"].as_str().unwrap_or("");
        for step in ctx.engine.image_history(id).unwrap_or_default() {
            let by = step["CreatedBy"].as_str().unwrap_or("");
            if f(by) {
                let by = by
                    .trim_start_matches("/bin/sh -c ")
                    .trim_start_matches("#(nop) ");
                let short: String = by.chars().take(80).collect();
                out.push(format!("{}: {}", image_name(i), short.trim()));
            }
        }
    }
    sorted(out)
}

/// Environment variable names that look like credentials.
fn secret_envs(i: &Value) -> Vec<String> {
    const WORDS: &[&str] = &[
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "PRIVATE_KEY",
        "API_KEY",
    ];
    i["Config"]["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, v)| !v.is_empty() && WORDS.iter().any(|w| k.to_ascii_uppercase().contains(w)))
        .map(|(k, _)| format!("{}: ENV {k}", image_name(i)))
        .collect()
}

fn has_healthcheck(i: &Value) -> bool {
    let t = &i["Config"]["Healthcheck"]["Test"];
    match t.as_array() {
        Some(a) => !a.is_empty() && a[0].as_str() != Some("NONE"),
        None => false,
    }
}

fn by_image(ctx: &Ctx, id: &str, images: &[Value]) -> Verdict {
    let all = || names(images, |_| true);
    match id {
        "4.2" => Verdict::info("make sure these images come from trusted sources", all()),
        "4.3" => Verdict::info("review the packages these images carry", all()),
        "4.4" => Verdict::info("scan and rebuild these images for security fixes", all()),
        "4.6" => Verdict::unless_any(
            names(images, |i| !has_healthcheck(i)),
            "images without a HEALTHCHECK",
        ),
        "4.7" => Verdict::note_any(
            "update steps on their own in the images' history",
            history_steps(ctx, images, |by| {
                let words: Vec<&str> = by.split_whitespace().collect();
                words.contains(&"update")
                    && !words.iter().any(|w| *w == "install" || *w == "upgrade")
            }),
        ),
        "4.8" => Verdict::info(
            "look for setuid/setgid files in these images (find / -perm /6000)",
            all(),
        ),
        "4.9" => Verdict::note_any(
            "ADD steps in the images' history (COPY is preferred)",
            history_steps(ctx, images, |by| {
                let by = by
                    .trim_start_matches("/bin/sh -c ")
                    .trim_start_matches("#(nop) ");
                by.trim_start().starts_with("ADD ")
            }),
        ),
        "4.10" => Verdict::note_any(
            "environment variables in images that look like secrets",
            sorted(images.iter().flat_map(secret_envs).collect()),
        ),
        "4.11" => Verdict::info(
            "make sure packages are installed from verified sources",
            Vec::new(),
        ),
        "4.12" => Verdict::info("validate the signatures of signed artifacts", Vec::new()),
        _ => Verdict::skipped("not applicable"),
    }
}

#[cfg(test)]
mod tests {
    use crate::fake::{FakeEngine, FakeHost};
    use crate::{audit, ClientSettings, Outcome};
    use serde_json::json;

    #[test]
    fn images_without_healthcheck_and_history_steps_are_named() {
        let mut e = FakeEngine::new();
        e.images.push(json!({"Id": "sha256:aaaa", "RepoTags": ["plain:1"], "Config": {"Env": ["DB_PASSWORD=x", "PATH=/bin"]}}));
        e.images
            .push(json!({"Id": "sha256:bbbb", "RepoTags": ["checked:1"],
            "Config": {"Healthcheck": {"Test": ["CMD", "true"]}, "Env": []}}));
        e.images
            .push(json!({"Id": "sha256:cccccccccccccccc", "RepoTags": [],
            "Config": {"Healthcheck": {"Test": ["NONE"]}}}));
        e.history.insert(
            "sha256:aaaa".into(),
            vec![
                json!({"CreatedBy": "/bin/sh -c #(nop) ADD file:abc in / "}),
                json!({"CreatedBy": "/bin/sh -c apt-get update"}),
                json!({"CreatedBy": "/bin/sh -c apt-get update && apt-get install -y x"}),
            ],
        );
        let f = audit(&e, &FakeHost::default(), &ClientSettings::default()).unwrap();
        let get = |id: &str| f.iter().find(|x| x.id == id).unwrap();
        assert_eq!(get("4.6").result, Outcome::Fail);
        assert_eq!(get("4.6").items, ["cccccccccccc", "plain:1"]);
        assert_eq!(get("4.7").items, ["plain:1: apt-get update"]);
        assert_eq!(get("4.9").items, ["plain:1: ADD file:abc in /"]);
        assert_eq!(get("4.10").items, ["plain:1: ENV DB_PASSWORD"]);
        assert_eq!(get("4.5").result, Outcome::Fail);
        let trusted = ClientSettings {
            content_trust: true,
            ..ClientSettings::default()
        };
        let f = audit(&e, &FakeHost::default(), &trusted).unwrap();
        assert_eq!(
            f.iter().find(|x| x.id == "4.5").unwrap().result,
            Outcome::Pass
        );
    }
}

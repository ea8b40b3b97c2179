//! `HostConfig.VolumesFrom` (`docker run --volumes-from C[:ro]`, Compose's `volumes_from:`): a new
//! container gets the volumes and bind mounts of other containers at the same places, as dockerd
//! gives them (read-only when the source's mount is or the entry says `ro`; never copied up from
//! the image; a mount of the request at the same destination wins).

use super::model::Bind;
use crate::error::{ApiError, ApiResult};

/// One entry: the container (name, id or id prefix) and whether its mounts come read-only.
fn parse(entry: &str) -> ApiResult<(&str, bool)> {
    if entry.is_empty() {
        return Err(ApiError::BadRequest(
            "volumes-from specification cannot be an empty string".into(),
        ));
    }
    let (name, mode) = entry.split_once(':').unwrap_or((entry, "rw"));
    let mut readonly = false;
    let mut rw_given = false;
    for m in mode.split(',') {
        match m {
            "ro" if !rw_given && !readonly => readonly = true,
            "rw" if !rw_given && !readonly => rw_given = true,
            // SELinux relabelling: nothing to do without SELinux.
            "z" | "Z" => {}
            _ => return Err(ApiError::BadRequest(format!("invalid mode: {mode}"))),
        }
    }
    Ok((name, readonly))
}

/// The mounts `entries` bring, given the destinations the request mounts itself (`taken`).
/// `lookup` finds a container's mounts by name or id.
pub fn resolve(
    entries: &[String],
    taken: &[&str],
    lookup: impl Fn(&str) -> ApiResult<Vec<Bind>>,
) -> ApiResult<Vec<Bind>> {
    let mut out: Vec<Bind> = Vec::new();
    for entry in entries {
        let (name, readonly) = parse(entry)?;
        for b in lookup(name)? {
            if taken.contains(&b.destination.as_str()) {
                continue;
            }
            // A later entry's mount at the same place replaces an earlier one's, as in dockerd's map.
            out.retain(|o| o.destination != b.destination);
            out.push(Bind {
                readonly: b.readonly || readonly,
                nocopy: true,
                volume_labels: Default::default(),
                volume_options: Default::default(),
                ..b
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(dest: &str, volume: Option<&str>, readonly: bool) -> Bind {
        Bind {
            source: format!("/src{dest}"),
            destination: dest.into(),
            readonly,
            propagation: "rprivate".into(),
            volume: volume.map(String::from),
            ..Default::default()
        }
    }

    fn writer(name: &str) -> ApiResult<Vec<Bind>> {
        match name {
            "writer" => Ok(vec![
                bind("/data", Some("data"), false),
                bind("/host", None, true),
                bind("/etc/conf", None, false),
            ]),
            other => Err(ApiError::NotFound(format!("No such container: {other}"))),
        }
    }

    #[test]
    fn mounts_come_with_the_entry_mode_and_the_request_wins() {
        let got = resolve(&["writer:ro".into()], &["/etc/conf"], writer).unwrap();
        let dests: Vec<(&str, bool, bool)> = got
            .iter()
            .map(|b| (b.destination.as_str(), b.readonly, b.nocopy))
            .collect();
        assert_eq!(dests, [("/data", true, true), ("/host", true, true)]);
        assert_eq!(got[0].volume.as_deref(), Some("data"));
        let got = resolve(&["writer".into()], &[], writer).unwrap();
        let ro: Vec<bool> = got.iter().map(|b| b.readonly).collect();
        assert_eq!(ro, [false, true, false]);
    }

    #[test]
    fn bad_entries_get_dockerd_messages() {
        let e = |s: &str| match resolve(&[s.into()], &[], writer) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{s} accepted"),
        };
        assert_eq!(e("writer:nocopy"), "invalid mode: nocopy");
        assert_eq!(e("writer:ro,rw"), "invalid mode: ro,rw");
        assert_eq!(e("nosuch"), "No such container: nosuch");
        assert_eq!(
            e(""),
            "volumes-from specification cannot be an empty string"
        );
        assert!(resolve(&["writer:rw,z".into()], &[], writer).is_ok());
    }
}

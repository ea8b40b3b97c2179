//! Landlock rules from `process.landlock` (or the `run.berth.landlock`
//! annotation): writes outside the allowed paths get EACCES, reads stay
//! allowed, and a bad rule set is refused with the field named.

mod common;

use common::{err_text, sh, text, Bundle};
use serde_json::{json, Value};

const SCRIPT: &str = "echo ok > /tmp/a && cat /tmp/a; \
    echo x > /root/b || echo denied-file; mkdir /root/d || echo denied-dir; \
    wc -l < /etc/passwd";

fn write_rules() -> Value {
    json!({
        "ruleset": {"handledAccessFS": ["write_file", "make_reg", "make_dir", "remove_file", "truncate"]},
        "rules": {"pathBeneath": [{"allowedAccess": ["write_file", "make_reg", "truncate"], "paths": ["/tmp"]}]}
    })
}

fn landlock_abi() -> Option<u32> {
    match berth_sys::landlock::abi_version() {
        Ok(v) if v > 0 => Some(v),
        _ => {
            eprintln!("skipped: Landlock is not enabled on this kernel");
            None
        }
    }
}

fn writable(c: &mut Value) {
    c["root"]["readonly"] = json!(false);
}

#[test]
fn writes_outside_the_allowed_paths_get_eacces_and_reads_stay_allowed() {
    require_root!();
    if landlock_abi().is_none() {
        return;
    }
    // Without rules the same script writes everywhere.
    let (code, out, err) = sh(writable, SCRIPT);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "ok\n2\n", "{err}");

    for nnp in [true, false] {
        let (code, out, err) = sh(
            |c| {
                writable(c);
                c["process"]["noNewPrivileges"] = json!(nnp);
                c["process"]["landlock"] = write_rules();
            },
            SCRIPT,
        );
        assert_eq!(code, 0, "nnp={nnp}: {err}");
        assert_eq!(out, "ok\ndenied-file\ndenied-dir\n2\n", "nnp={nnp}: {err}");
        assert!(err.contains("Permission denied"), "nnp={nnp}: {err}");
    }

    // The same rules through the annotation, for engines that cannot send
    // the field.
    let (code, out, err) = sh(
        |c| {
            writable(c);
            c["annotations"] = json!({"run.berth.landlock": write_rules().to_string()});
        },
        SCRIPT,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "ok\ndenied-file\ndenied-dir\n2\n", "{err}");
}

#[test]
fn exec_into_a_container_gets_its_rules() {
    require_root!();
    if landlock_abi().is_none() {
        return;
    }
    let b = Bundle::new(|c| {
        writable(c);
        c["process"]["args"] = json!(["sleep", "30"]);
        c["process"]["landlock"] = write_rules();
    });
    let (ok, err) = b.detached(&["run", "-d", "ll-exec"]);
    assert!(ok, "{err}");
    let out = b.run(&[
        "exec",
        "ll-exec",
        "sh",
        "-c",
        "echo x > /root/e || echo denied; echo y > /tmp/e && echo allowed",
    ]);
    let _ = b.run(&["delete", "-f", "ll-exec"]);
    assert_eq!(text(&out), "denied\nallowed\n", "{}", err_text(&out));
}

#[test]
fn an_unknown_access_right_is_refused_with_the_field_named() {
    require_root!();
    let (code, _, err) = sh(
        |c| {
            c["process"]["landlock"] = json!({
                "ruleset": {"handledAccessFS": ["write_file", "write_everything"]},
            });
        },
        "true",
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("process.landlock.ruleset.handledAccessFS[1]: unknown Landlock access right \"write_everything\""),
        "{err}"
    );
    let (code, _, err) = sh(
        |c| {
            c["annotations"] = json!({"run.berth.landlock": "{\"ruleset\": 3}"});
        },
        "true",
    );
    assert_ne!(code, 0);
    assert!(err.contains("annotations[\"run.berth.landlock\"]"), "{err}");
}

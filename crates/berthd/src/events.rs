//! The event stream (`docker events`): what happened to containers, images and volumes, broadcast to
//! `GET /events` clients, with the last events kept for `since`.

use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;

const KEEP: usize = 1024;

/// One event, in the API's shape (`Type`, `Action`, `Actor`, `time`, `timeNano`, and the old fields).
#[derive(Clone, Debug)]
pub struct Event {
    /// Nanoseconds since the epoch.
    pub time_nano: u128,
    /// The JSON to send.
    pub json: Value,
}

/// The bus.
pub struct Events {
    tx: broadcast::Sender<Event>,
    recent: Mutex<VecDeque<Event>>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::channel(256).0,
            recent: Mutex::new(VecDeque::new()),
        }
    }
}

impl Events {
    /// Publish: `kind` is `container`, `image`, `volume`; `attrs` are the actor's attributes.
    pub fn emit(&self, kind: &str, action: &str, id: &str, attrs: BTreeMap<String, String>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut j = json!({
            "Type": kind,
            "Action": action,
            "Actor": {"ID": id, "Attributes": attrs},
            "scope": "local",
            "time": now.as_secs(),
            "timeNano": now.as_nanos() as u64,
        });
        if kind == "container" {
            j["status"] = json!(action);
            j["id"] = json!(id);
            if let Some(img) = attrs.get("image") {
                j["from"] = json!(img);
            }
        }
        let e = Event {
            time_nano: now.as_nanos(),
            json: j,
        };
        {
            let mut r = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if r.len() == KEEP {
                r.pop_front();
            }
            r.push_back(e.clone());
        }
        let _ = self.tx.send(e);
    }

    /// A container event: the container's attributes (labels, image, name) and `extra`.
    pub fn container(
        &self,
        c: &crate::containers::model::Container,
        action: &str,
        extra: &[(&str, String)],
    ) {
        let mut attrs = container_attrs(c);
        for (k, v) in extra {
            attrs.insert((*k).to_string(), v.clone());
        }
        self.emit("container", action, &c.id, attrs);
    }

    /// Events kept since `since_nano`, and a receiver for the ones to come.
    pub fn subscribe(&self, since_nano: Option<u128>) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let r = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let rx = self.tx.subscribe();
        let past = match since_nano {
            Some(s) => r.iter().filter(|e| e.time_nano >= s).cloned().collect(),
            None => Vec::new(),
        };
        (past, rx)
    }
}

/// Attributes of a container event.
pub fn container_attrs(c: &crate::containers::model::Container) -> BTreeMap<String, String> {
    let mut a: BTreeMap<String, String> = c.labels();
    a.insert("image".into(), c.image_name().to_string());
    a.insert("name".into(), c.name.clone());
    a
}

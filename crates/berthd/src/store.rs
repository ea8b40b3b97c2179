//! The daemon's state store: SQLite (WAL, synchronous=FULL but for the writes a host crash makes
//! moot, see [`Durability`]) in `<data-root>/berthd.db`.
//!
//! Containers are rows `(id, name UNIQUE, data JSON)`, so reserving a name and creating a container is one
//! transaction, and a crash leaves either the whole container or nothing. `meta` holds daemon-wide values
//! (the engine ID), `volumes` the named volumes. Images live in berth-image's store; this one only
//! references them.

use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The name is taken (by the container id given).
    #[error("name {0:?} is in use by container {1}")]
    NameInUse(String, String),
    /// SQLite failure.
    #[error("state database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A row did not decode.
    #[error("state database: bad record {0}: {1}")]
    Decode(String, serde_json::Error),
}

/// What a write must survive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// A host crash (power loss): the commit waits for the disk (an fsync of the WAL).
    Synced,
    /// A crash of berthd (the kernel has the write at once), not of the host: for states a host
    /// crash makes moot (it stops every container) and writes whose loss leaves a state recovery
    /// finishes. The WAL is written in order, so the next synced commit makes it durable too.
    Unsynced,
}

/// Run `f` with the connection's `synchronous` for `d` (NORMAL in WAL mode: no fsync at commit),
/// then back to FULL.
fn with_durability<R>(
    conn: &Connection,
    d: Durability,
    f: impl FnOnce(&Connection) -> rusqlite::Result<R>,
) -> rusqlite::Result<R> {
    if d == Durability::Synced {
        return f(conn);
    }
    conn.prepare_cached("PRAGMA synchronous = NORMAL")?
        .execute([])?;
    let r = f(conn);
    conn.prepare_cached("PRAGMA synchronous = FULL")?
        .execute([])?;
    r
}

/// A handle on the database (one connection; calls are short).
pub struct StateStore {
    conn: Mutex<Connection>,
}

impl StateStore {
    /// Open or create the database.
    pub fn open(path: &Path) -> Result<StateStore, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS containers (
                 id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, data TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS volumes (name TEXT PRIMARY KEY, data TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS volume_mounts (
                 volume TEXT NOT NULL, container TEXT NOT NULL, driver TEXT NOT NULL,
                 mountpoint TEXT NOT NULL, PRIMARY KEY (volume, container));
             CREATE TABLE IF NOT EXISTS networks (
                 id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, data TEXT NOT NULL);",
        )?;
        Ok(StateStore {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Insert a new container; fails with [`StoreError::NameInUse`] if the name is taken.
    #[cfg(test)]
    pub fn insert<T: serde::Serialize>(
        &self,
        id: &str,
        name: &str,
        data: &T,
    ) -> Result<(), StoreError> {
        self.insert_with(id, name, data, Durability::Synced)
    }

    /// [`StateStore::insert`] with the durability the write needs.
    pub fn insert_with<T: serde::Serialize>(
        &self,
        id: &str,
        name: &str,
        data: &T,
        durability: Durability,
    ) -> Result<(), StoreError> {
        let conn = self.lock();
        let owner: Option<String> = conn
            .prepare_cached("SELECT id FROM containers WHERE name = ?1")?
            .query_row(params![name], |r| r.get(0))
            .optional()?;
        if let Some(owner) = owner {
            return Err(StoreError::NameInUse(name.to_string(), owner));
        }
        let json = serde_json::to_string(data).expect("record serializes");
        with_durability(&conn, durability, |c| {
            c.prepare_cached("INSERT INTO containers (id, name, data) VALUES (?1, ?2, ?3)")?
                .execute(params![id, name, json])
        })?;
        Ok(())
    }

    /// Replace a container's record (and name).
    pub fn update<T: serde::Serialize>(
        &self,
        id: &str,
        name: &str,
        data: &T,
    ) -> Result<(), StoreError> {
        self.update_with(id, name, data, Durability::Synced)
    }

    /// [`StateStore::update`] with the durability the write needs.
    pub fn update_with<T: serde::Serialize>(
        &self,
        id: &str,
        name: &str,
        data: &T,
        durability: Durability,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(data).expect("record serializes");
        let conn = self.lock();
        with_durability(&conn, durability, |c| {
            c.prepare_cached("UPDATE containers SET name = ?2, data = ?3 WHERE id = ?1")?
                .execute(params![id, name, json])
        })?;
        Ok(())
    }

    /// Delete a container's row, with the durability the write needs.
    pub fn delete_with(&self, id: &str, durability: Durability) -> Result<(), StoreError> {
        let conn = self.lock();
        with_durability(&conn, durability, |c| {
            c.prepare_cached("DELETE FROM containers WHERE id = ?1")?
                .execute(params![id])
        })?;
        Ok(())
    }

    /// Every container record.
    pub fn all<T: serde::de::DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        let conn = self.lock();
        let mut st = conn.prepare("SELECT id, data FROM containers")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, data) = row?;
            out.push(serde_json::from_str(&data).map_err(|e| StoreError::Decode(id, e))?);
        }
        Ok(out)
    }

    /// Insert or replace a volume.
    pub fn volume_put<T: serde::Serialize>(&self, name: &str, v: &T) -> Result<(), StoreError> {
        let json = serde_json::to_string(v).expect("volume serializes");
        self.lock().execute(
            "INSERT OR REPLACE INTO volumes (name, data) VALUES (?1, ?2)",
            params![name, json],
        )?;
        Ok(())
    }

    /// A volume by name.
    pub fn volume_get<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<T>, StoreError> {
        let data: Option<String> = self
            .lock()
            .query_row(
                "SELECT data FROM volumes WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()?;
        data.map(|d| serde_json::from_str(&d).map_err(|e| StoreError::Decode(name.to_string(), e)))
            .transpose()
    }

    /// Every volume.
    pub fn volume_list<T: serde::de::DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        let conn = self.lock();
        let mut st = conn.prepare("SELECT name, data FROM volumes ORDER BY name")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (n, d) = row?;
            out.push(serde_json::from_str(&d).map_err(|e| StoreError::Decode(n, e))?);
        }
        Ok(out)
    }

    /// Delete a volume's row.
    pub fn volume_delete(&self, name: &str) -> Result<(), StoreError> {
        self.lock()
            .execute("DELETE FROM volumes WHERE name = ?1", params![name])?;
        Ok(())
    }

    /// Record that plugin `driver` mounted `volume` for `container` at `mountpoint`.
    pub fn mount_put(
        &self,
        volume: &str,
        container: &str,
        driver: &str,
        mountpoint: &str,
    ) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT OR REPLACE INTO volume_mounts (volume, container, driver, mountpoint)
             VALUES (?1, ?2, ?3, ?4)",
            params![volume, container, driver, mountpoint],
        )?;
        Ok(())
    }

    /// Forget a plugin mount (after its `Unmount`).
    pub fn mount_delete(&self, volume: &str, container: &str) -> Result<(), StoreError> {
        self.lock().execute(
            "DELETE FROM volume_mounts WHERE volume = ?1 AND container = ?2",
            params![volume, container],
        )?;
        Ok(())
    }

    /// The plugin mounts held for a container: (volume, driver, mountpoint).
    pub fn mounts_of(&self, container: &str) -> Result<Vec<(String, String, String)>, StoreError> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT volume, driver, mountpoint FROM volume_mounts WHERE container = ?1
             ORDER BY volume",
        )?;
        let rows = st.query_map(params![container], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The containers holding a plugin mount of `volume`.
    pub fn mounts_of_volume(&self, volume: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.lock();
        let mut st = conn
            .prepare("SELECT container FROM volume_mounts WHERE volume = ?1 ORDER BY container")?;
        let rows = st.query_map(params![volume], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A meta value, if set.
    pub fn meta_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .lock()
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Set a meta value (written without waiting for the disk: see [`Durability::Unsynced`]).
    pub fn meta_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let conn = self.lock();
        with_durability(&conn, Durability::Unsynced, |c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
        })?;
        Ok(())
    }

    /// A meta value, set to `init()` the first time.
    pub fn meta_or_init(
        &self,
        key: &str,
        init: impl FnOnce() -> String,
    ) -> Result<String, StoreError> {
        let conn = self.lock();
        if let Some(v) = conn
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()?
        {
            return Ok(v);
        }
        let v = init();
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)",
            params![key, v],
        )?;
        Ok(v)
    }
}

/// The networks table, as berth-net's store: a connection of its own on the same database.
pub struct NetworkTable {
    conn: Mutex<Connection>,
}

impl NetworkTable {
    /// Open the database at `path` (the table exists once [`StateStore::open`] ran).
    pub fn open(path: &Path) -> Result<NetworkTable, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(NetworkTable {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn model_err(e: impl std::fmt::Display) -> berth_net::model::ModelError {
    berth_net::model::ModelError::Store(e.to_string())
}

impl berth_net::model::NetworkStore for NetworkTable {
    fn load(&self) -> Result<Vec<berth_net::model::NetworkConfig>, berth_net::model::ModelError> {
        let conn = self.lock();
        let mut st = conn
            .prepare("SELECT id, data FROM networks")
            .map_err(model_err)?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(model_err)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, data) = row.map_err(model_err)?;
            out.push(
                serde_json::from_str(&data)
                    .map_err(|e| model_err(format!("bad record {id}: {e}")))?,
            );
        }
        Ok(out)
    }

    fn save(
        &self,
        n: &berth_net::model::NetworkConfig,
    ) -> Result<(), berth_net::model::ModelError> {
        let json = serde_json::to_string(n).expect("network serializes");
        self.lock()
            .execute(
                "INSERT OR REPLACE INTO networks (id, name, data) VALUES (?1, ?2, ?3)",
                params![n.id, n.name, json],
            )
            .map_err(model_err)?;
        Ok(())
    }

    fn delete(&self, id: &str) -> Result<(), berth_net::model::ModelError> {
        self.lock()
            .execute("DELETE FROM networks WHERE id = ?1", params![id])
            .map_err(model_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_rows_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db");
        {
            let s = StateStore::open(&p).unwrap();
            s.insert("a1", "web", &serde_json::json!({"x": 1})).unwrap();
            match s.insert("b2", "web", &serde_json::json!({})) {
                Err(StoreError::NameInUse(n, owner)) => {
                    assert_eq!((n.as_str(), owner.as_str()), ("web", "a1"))
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(s.meta_or_init("id", || "one".into()).unwrap(), "one");
        }
        let s = StateStore::open(&p).unwrap();
        let all: Vec<serde_json::Value> = s.all().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(s.meta_or_init("id", || "two".into()).unwrap(), "one");
        s.delete_with("a1", Durability::Synced).unwrap();
        assert!(s.all::<serde_json::Value>().unwrap().is_empty());
    }

    #[test]
    fn unsynced_writes_are_kept_and_leave_the_next_ones_synced() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db");
        let synchronous = |s: &StateStore| -> i64 {
            s.lock()
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap()
        };
        {
            // Dropped without a checkpoint's sync, as by a berthd killed: the next open has them.
            let s = StateStore::open(&p).unwrap();
            s.insert("a1", "web", &serde_json::json!({"x": 1})).unwrap();
            s.insert("b2", "db", &serde_json::json!({"x": 1})).unwrap();
            s.update_with(
                "a1",
                "web2",
                &serde_json::json!({"x": 2}),
                Durability::Unsynced,
            )
            .unwrap();
            s.delete_with("b2", Durability::Unsynced).unwrap();
            s.insert_with(
                "d4",
                "rm",
                &serde_json::json!({"x": 4}),
                Durability::Unsynced,
            )
            .unwrap();
            assert_eq!(synchronous(&s), 2, "back to FULL");
            std::mem::forget(s);
        }
        let s = StateStore::open(&p).unwrap();
        let all: Vec<serde_json::Value> = s.all().unwrap();
        assert_eq!(
            all,
            vec![serde_json::json!({"x": 2}), serde_json::json!({"x": 4})]
        );
        // The name moved with the unsynced update.
        s.insert("c3", "web", &serde_json::json!({})).unwrap();
    }
}

//! Docker's remote network and IPAM plugins for berth-net: its synchronous `PluginResolver` and
//! `PluginCall` over berth-plugin's discovery, activation and asynchronous JSON client. berth-net
//! calls them from blocking threads (and, at start-up, from the daemon's opening), so each call
//! runs on a short-lived thread of its own that waits on the runtime, never on a runtime worker.

use berth_net::remote::{CallError, PluginCall};
use berth_net::remote_net::PluginResolver;
use berth_plugin::{Plugin, PluginError, Plugins};
use std::future::Future;
use std::sync::Arc;
use tokio::runtime::Handle;

/// Finds network and IPAM plugins among the discovered ones.
pub struct Resolver {
    plugins: Arc<Plugins>,
    rt: Handle,
}

impl Resolver {
    /// A resolver over `plugins`, running their calls on the runtime of `rt`.
    pub fn new(plugins: Arc<Plugins>, rt: Handle) -> Resolver {
        Resolver { plugins, rt }
    }
}

/// Run `f` to its end on `rt` from a thread of its own; `None` if that thread died.
fn block<T: Send>(rt: &Handle, f: impl Future<Output = T> + Send) -> Option<T> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("net-plugin".into())
            .spawn_scoped(s, || rt.block_on(f))
            .ok()?
            .join()
            .ok()
    })
}

impl PluginResolver for Resolver {
    fn find(&self, name: &str, subsystem: &str) -> Result<Arc<dyn PluginCall>, String> {
        let found = block(&self.rt, self.plugins.get(name, subsystem))
            .ok_or_else(|| format!("plugin {name:?}: the lookup failed"))?;
        let plugin = found.map_err(|e| e.to_string())?;
        Ok(Arc::new(Call {
            plugin,
            rt: self.rt.clone(),
        }))
    }
}

/// One activated plugin, called with raw JSON.
struct Call {
    plugin: Arc<Plugin>,
    rt: Handle,
}

impl PluginCall for Call {
    fn call(&self, method: &str, body: serde_json::Value) -> Result<serde_json::Value, CallError> {
        let client = &self.plugin.client;
        let timeout = client.settings().long_timeout;
        let answer = block(
            &self.rt,
            client.call::<serde_json::Value, serde_json::Value>(method, Some(&body), timeout),
        )
        .ok_or_else(|| CallError::Failed(format!("{method}: the call failed")))?;
        match answer {
            Ok(v) => Ok(v),
            Err(e) if e.is_unknown_method() => Err(CallError::NotImplemented),
            Err(PluginError::Remote { msg, .. }) => Err(CallError::Failed(msg)),
            Err(e) => Err(CallError::Failed(e.to_string())),
        }
    }
}

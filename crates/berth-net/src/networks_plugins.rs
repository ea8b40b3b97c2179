//! The registry's side of Docker network and IPAM plugins: networks of plugin drivers, and the
//! pools IPAM plugins give bridge, macvlan and ipvlan networks (`--ipam-driver NAME`), with
//! their state files.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;

use super::{Live, NetResult, Networks};
use crate::addresses::RemoteAddresses;
use crate::ipam::Subnet;
use crate::model::{self, CreateRequest, IpamPool, ModelError, NetworkConfig};
use crate::remote_net::{default_ipam, Plugins, PoolChoice, RemoteState};

/// The first pool of a request as an IPAM plugin is asked for it: subnet, ip-range, gateway.
fn requested_pool(
    req: &CreateRequest,
) -> NetResult<(Option<Subnet>, Option<Subnet>, Option<Ipv4Addr>)> {
    let parse = |what: &str, v: &Option<String>| -> NetResult<Option<Subnet>> {
        match v.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Ok(Some(s.parse().map_err(|e: crate::Error| {
                ModelError::Invalid(format!("invalid {what}: {e}"))
            })?)),
            None => Ok(None),
        }
    };
    let Some(want) = req.pools.first() else {
        return Ok((None, None, None));
    };
    let gateway = match want.gateway.as_deref().filter(|g| !g.is_empty()) {
        Some(g) => Some(
            g.parse()
                .map_err(|_| ModelError::Invalid(format!("invalid gateway address {g:?}")))?,
        ),
        None => None,
    };
    Ok((
        parse("subnet", &want.subnet)?,
        parse("ip-range", &want.ip_range)?,
        gateway,
    ))
}

impl Networks {
    /// A plugin network's pool and gateway at its plugins.
    pub(super) fn remote_file(&self, cfg: &NetworkConfig) -> PathBuf {
        self.settings
            .state_dir
            .join(format!("{}.remote.json", cfg.id))
    }

    pub(super) fn plugins(&self) -> NetResult<&Plugins> {
        self.settings.plugins.as_ref().ok_or_else(|| {
            ModelError::Unsupported("this daemon runs without network plugins".into()).into()
        })
    }

    /// Make a network of a plugin driver; its pool goes into `cfg`.
    pub(super) fn create_remote(
        &self,
        cfg: &mut NetworkConfig,
        req: &CreateRequest,
        local: Option<IpamPool>,
    ) -> NetResult<Live> {
        let plugins = self.plugins()?;
        let choice = match &local {
            Some(p) => PoolChoice::Local(p),
            None => {
                let (subnet, ip_range, gateway) = requested_pool(req)?;
                PoolChoice::Remote {
                    subnet,
                    ip_range,
                    gateway,
                }
            }
        };
        let net = plugins.create(
            &cfg.id,
            &cfg.driver,
            &cfg.ipam_driver,
            choice,
            &req.ipam_options.clone().unwrap_or_default(),
            &cfg.options,
            &self.ipam_file(cfg),
        )?;
        cfg.pools = vec![local.unwrap_or(net.state.model_pool(None))];
        if let Err(e) = self.save_remote(cfg, &net.state) {
            let _ = crate::UserNetwork::destroy(&net);
            return Err(e);
        }
        Ok(Live {
            net: Arc::new(net),
            _dns: None,
        })
    }

    /// Where a plugin pool's state persists (`<id>.remote.json`).
    pub(super) fn save_remote(&self, cfg: &NetworkConfig, state: &RemoteState) -> NetResult<()> {
        let file = self.remote_file(cfg);
        std::fs::create_dir_all(&self.settings.state_dir)
            .and_then(|()| std::fs::write(&file, serde_json::to_vec(state).expect("json")))
            .map_err(|e| ModelError::Store(format!("{}: {e}", file.display())).into())
    }

    pub(super) fn load_remote(&self, cfg: &NetworkConfig) -> NetResult<RemoteState> {
        let state = std::fs::read(self.remote_file(cfg))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| ModelError::Store(format!("{}: no plugin state", cfg.name)))?;
        Ok(state)
    }

    /// A bridge, macvlan or ipvlan network with `--ipam-driver NAME`: its pool and gateway from
    /// the IPAM plugin (which may overlap no other network), recorded in `cfg` and its state
    /// file. None with the default IPAM driver.
    pub(super) fn request_remote_pool(
        &self,
        cfg: &mut NetworkConfig,
        req: &CreateRequest,
        in_use: &[Subnet],
    ) -> NetResult<Option<RemoteAddresses>> {
        if default_ipam(&cfg.ipam_driver) || !model::builtin_driver(&cfg.driver) {
            return Ok(None);
        }
        let (subnet, ip_range, gateway) = requested_pool(req)?;
        let ipam = Arc::new(self.plugins()?.ipam(&cfg.ipam_driver)?);
        let options = req.ipam_options.clone().unwrap_or_default();
        let r = RemoteAddresses::request(ipam, subnet, ip_range, gateway, &options)?;
        let checked = if in_use.iter().any(|s| s.overlaps(&r.state.pool.subnet)) {
            Err(ModelError::Overlap.into())
        } else {
            cfg.pools = vec![r.state.model_pool(ip_range)];
            self.save_remote(cfg, &r.state)
        };
        if let Err(e) = checked {
            let _ = r.release_all();
            return Err(e);
        }
        Ok(Some(r))
    }
}

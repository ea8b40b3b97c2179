//! Containers: the record ([`model`]), the live registry ([`registry`]), the OCI config ([`spec`]), the
//! shim and runtime calls ([`shim`]), creation ([`create`], from a data directory made ahead: [`spares`]), the bundle made ahead of a `--rm` start ([`prestart`]), `--init` and joined namespaces ([`modes`]), published ports that cannot be had ([`ports`]), the life cycle built from them
//! ([`lifecycle`]), removal ([`removal`]), crash recovery at start-up ([`recover`]), exec instances ([`exec`]), health checks
//! ([`health`]), resource updates ([`update`]) and the mounts of `--volumes-from` ([`volumes_from`]).

pub mod create;
pub mod defaults;
pub mod exec;
pub mod exit;
pub mod health;
pub mod hostextra;
pub mod lifecycle;
pub mod links;
pub mod logattrs;
pub mod logconfig;
pub mod logfile;
pub mod logplugin;
pub mod model;
pub mod modes;
pub mod mounts;
pub mod names;
pub mod netconn;
pub mod ports;
pub mod prestart;
pub mod recover;
pub mod registry;
pub mod removal;
pub mod resources;
pub mod shim;
pub mod spares;
pub mod spec;
pub mod trash;
pub mod update;
pub mod volumes_from;
pub mod warmup;

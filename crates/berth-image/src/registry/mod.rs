//! A client for the Distribution API v2 (Docker registries): pull and push by tag or digest, platform choice
//! from indexes, anonymous/basic/bearer auth, cross-repository mounts, monolithic and chunked uploads, layers
//! fetched in parallel with progress events and resumed with `Range` after a failure, TLS with extra CAs and
//! plain http for registries marked insecure; the v1 search API ([`search`]). The client is synchronous; an async caller runs it on a
//! blocking thread.

pub mod auth;
mod client;
mod pull;
mod push;
pub mod search;

pub use auth::{AuthConfig, Challenge, Credentials};
pub use client::{Client, ClientOptions, Progress, RegistryError};

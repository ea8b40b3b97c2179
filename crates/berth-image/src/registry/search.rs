//! `docker search`: the registry's v1 search API (`GET /v1/search?q=&n=`), as Docker Hub's index and
//! other registries that offer it answer it. A term may name its registry (`host:port/term`); without
//! one it goes to Docker Hub's index.

use super::client::{Body, Client, RegistryError};
use serde::{Deserialize, Serialize};

/// Docker Hub's search host.
pub const INDEX_HOST: &str = "index.docker.io";

/// The most results a search answer may hold before it is refused as not a real answer.
const MAX_ANSWER: u64 = 8 << 20;

/// One result, in the Engine API's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResult {
    /// Repository name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Stars.
    #[serde(default)]
    pub star_count: u64,
    /// An official image.
    #[serde(default)]
    pub is_official: bool,
    /// An automated build (deprecated, always false on Docker Hub now).
    #[serde(default)]
    pub is_automated: bool,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    results: Vec<SearchResult>,
}

/// Split a search term into the registry host to ask and the term it is asked.
pub fn split_term(term: &str) -> (String, String) {
    if let Some((first, rest)) = term.split_once('/') {
        if first.contains('.') || first.contains(':') || first == "localhost" {
            let host = if first == "docker.io" || first == "index.docker.io" {
                INDEX_HOST
            } else {
                first
            };
            return (host.to_string(), rest.to_string());
        }
    }
    (INDEX_HOST.to_string(), term.to_string())
}

impl Client {
    /// Search `host` for `term`, at most `limit` results.
    pub fn search(
        &self,
        host: &str,
        term: &str,
        limit: u32,
    ) -> Result<Vec<SearchResult>, RegistryError> {
        let url = format!(
            "{}/v1/search?q={}&n={limit}",
            self.base(host),
            super::client::qs(term)
        );
        let r = self.send("GET", &url, host, &[], &[], Body::Empty)?;
        let r = Self::expect("GET", &url, r, &[200])?;
        let mut body = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(r.into_reader(), MAX_ANSWER),
            &mut body,
        )
        .map_err(|e| RegistryError::Transport {
            url: url.clone(),
            message: e.to_string(),
        })?;
        let a: Answer = serde_json::from_slice(&body).map_err(|e| RegistryError::Transport {
            url: url.clone(),
            message: format!("not a search answer: {e}"),
        })?;
        let mut results = a.results;
        results.truncate(limit as usize);
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_name_their_registry() {
        assert_eq!(split_term("busybox"), (INDEX_HOST.into(), "busybox".into()));
        assert_eq!(
            split_term("library/busybox"),
            (INDEX_HOST.into(), "library/busybox".into())
        );
        assert_eq!(
            split_term("127.0.0.1:5000/bb"),
            ("127.0.0.1:5000".into(), "bb".into())
        );
        assert_eq!(split_term("docker.io/bb"), (INDEX_HOST.into(), "bb".into()));
        assert_eq!(
            split_term("localhost/x/y"),
            ("localhost".into(), "x/y".into())
        );
    }
}

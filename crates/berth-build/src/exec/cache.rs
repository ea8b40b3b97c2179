//! The cache's decisions: `cachefrom` (the images allowed, and matched by history when they have
//! no parent chain here), the probe for a step's cached image, and taking a hit.

use super::*;

impl Builder<'_> {
    pub(super) fn cache_from(&mut self) -> Result<(), BuildError> {
        if self.opts.cache_from.is_empty() {
            return Ok(());
        }
        let mut allowed = BTreeSet::new();
        for name in &self.opts.cache_from {
            let mut sink: Vec<String> = Vec::new();
            let Ok(img) = self.images.get(name, false, &mut sink) else {
                continue;
            };
            self.cache_sources.push(img.clone());
            let mut cur = Some(img.id);
            while let Some(id) = cur {
                if !allowed.insert(id.clone()) {
                    break;
                }
                // A pulled image names a parent this store never had: the chain ends there.
                cur = self.layers.parent(&id).ok().flatten();
            }
        }
        self.cache_allowed = Some(allowed);
        Ok(())
    }

    /// Reuse a cached image for this step, if there is one: a local child of the current image with
    /// this step's key, else a `cachefrom` image's step (`run` is the config the step leaves).
    pub(super) fn probe(
        &mut self,
        st: &State,
        key: &ContainerConfig,
        run: &ContainerConfig,
    ) -> Result<Option<BaseImage>, BuildError> {
        if self.opts.no_cache || self.busted {
            return Ok(None);
        }
        let want = serde_json::to_value(key).ok();
        let mut hits: Vec<BaseImage> = self
            .layers
            .children(st.image.as_deref())?
            .into_iter()
            .filter(|c| c.config.container_config == want)
            .filter(|c| {
                self.cache_allowed
                    .as_ref()
                    .is_none_or(|a| a.contains(&c.id))
            })
            .collect();
        // The newest, as Docker picks.
        // By time, not by text: a whole second has no fraction and a fraction has no trailing
        // zeros, so `...:05Z` sorts after `...:05.5Z` and `...:05.5Z` after `...:05.52Z`.
        hits.sort_by_key(|h| berth_image::config::created_time(h.config.created.as_deref()));
        if let Some(h) = hits.pop() {
            return Ok(Some(h));
        }
        if let Some(h) = self.probe_history(st, key, run)? {
            return Ok(Some(h));
        }
        self.busted = true;
        Ok(None)
    }

    /// The classic builder's match on a `cachefrom` image's history: the current image's history
    /// and layers are the start of the image's, and the image's next history entry was made by this
    /// step (its `created_by` is the key's command). The image itself when that entry is its last;
    /// otherwise an image made here from the current one, that entry and its layer.
    fn probe_history(
        &mut self,
        st: &State,
        key: &ContainerConfig,
        run: &ContainerConfig,
    ) -> Result<Option<BaseImage>, BuildError> {
        let parent = st.image.as_ref().map(|_| &st.config);
        let at = parent.map_or(0, |p| p.history.len());
        let by = key.cmd.clone().unwrap_or_default().join(" ");
        let Some(target) = self
            .cache_sources
            .iter()
            .find(|t| {
                history_parent(t, parent)
                    && t.config
                        .history
                        .get(at)
                        .and_then(|h| h.created_by.as_deref())
                        == Some(by.as_str())
            })
            .cloned()
        else {
            return Ok(None);
        };
        // As the classic builder: once one image matched, only it is followed.
        self.cache_sources = vec![target.clone()];
        if at + 1 == target.config.history.len() {
            return Ok(Some(target));
        }
        let entry = target.config.history[at].clone();
        let layer = if entry.empty_layer == Some(true) {
            Layer::None
        } else {
            let index = target.config.history[..at]
                .iter()
                .filter(|h| h.empty_layer != Some(true))
                .count();
            Layer::Existing {
                image: target.id.clone(),
                index,
            }
        };
        let mut cfg = st.config.clone();
        cfg.created = entry.created.clone();
        cfg.history.push(entry);
        cfg.config = Some(run.clone());
        cfg.container_config = serde_json::to_value(key).ok();
        cfg.parent = st.image.clone();
        cfg.container = None;
        let id = self
            .layers
            .commit(st.image.as_deref(), layer, cfg.clone())?;
        let config = match self.images.get(&id, false, &mut Vec::<String>::new()) {
            Ok(b) => b.config,
            Err(_) => cfg,
        };
        Ok(Some(BaseImage { id, config }))
    }

    pub(super) fn use_cached(&mut self, st: &mut State, hit: BaseImage) {
        self.out.stream(" ---> Using cache\n");
        self.out.stream(&format!(" ---> {}\n", short(&hit.id)));
        st.image = Some(hit.id);
        st.config = hit.config;
    }
}

/// Whether `parent`'s history and layers are where `target`'s start (the classic builder's
/// `isValidParent`); any image is a valid child of no image or an empty one.
fn history_parent(target: &BaseImage, parent: Option<&ImageConfig>) -> bool {
    let t = &target.config;
    if t.history.is_empty() {
        return false;
    }
    let Some(p) = parent else {
        return true;
    };
    if p.history.is_empty() && p.rootfs.diff_ids.is_empty() {
        return true;
    }
    p.history.len() < t.history.len()
        && p.rootfs.diff_ids.len() <= t.rootfs.diff_ids.len()
        && p.history == t.history[..p.history.len()]
        && p.rootfs.diff_ids == t.rootfs.diff_ids[..p.rootfs.diff_ids.len()]
}

//! Every Redis key name the remote tier uses, in one place.
//!
//! On one server: entries `namespace:cache:vN:<hex>` (the [`CacheKey`](crate::CacheKey)
//! display form), generations `namespace:__gen:<cache>`, tags `namespace:__tag:<tag>`,
//! locks `namespace:__lock:<cache:vN:hex>`, the backplane channel `namespace:__bus`.
//!
//! In a Redis Cluster a cache's entries, generation and locks share the hash tag
//! `{namespace:cache}` so no operation on them crosses slots: `{ns:users}:v0:<hex>`,
//! `{ns:users}:__gen`, `{ns:users}:__lock:v0:<hex>`. Tags span caches and live in slots
//! of their own.

/// Names Redis keys for one namespace.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    namespace: String,
    cluster: bool,
}

impl Keys {
    pub(crate) fn new(namespace: &str, cluster: bool) -> Self {
        Self {
            namespace: namespace.to_owned(),
            cluster,
        }
    }

    /// The hash tag that keeps a cache's keys in one cluster slot: `{namespace:cache}`.
    fn slot_tag(&self, cache: &str) -> String {
        format!("{{{}:{cache}}}", self.namespace)
    }

    /// The Redis key of an entry of `cache` whose [`CacheKey`](crate::CacheKey) displays
    /// as `display` (`namespace:cache:vN:<hex>`): that, or in a cluster
    /// `{namespace:cache}:vN:<hex>`.
    pub(crate) fn entry(&self, cache: &str, display: String) -> String {
        if !self.cluster {
            return display;
        }
        let prefix = format!("{}:{cache}", self.namespace);
        match display.strip_prefix(prefix.as_str()) {
            Some(rest) => format!("{}{rest}", self.slot_tag(cache)),
            None => display,
        }
    }

    /// The Redis key of a cache's generation.
    pub(crate) fn generation(&self, cache: &str) -> String {
        if self.cluster {
            format!("{}:__gen", self.slot_tag(cache))
        } else {
            format!("{}:__gen:{cache}", self.namespace)
        }
    }

    /// The Redis key of a tag's generation.
    pub(crate) fn tag(&self, tag: &str) -> String {
        format!("{}:__tag:{tag}", self.namespace)
    }

    /// The Redis key of the `lock = true` lock of entry key `entry` of `cache`.
    pub(crate) fn lock(&self, cache: &str, entry: &str) -> String {
        if self.cluster {
            let tag = self.slot_tag(cache);
            let rest = entry.strip_prefix(tag.as_str()).unwrap_or(entry);
            return format!("{tag}:__lock{rest}");
        }
        let rest = entry
            .strip_prefix(self.namespace.as_str())
            .and_then(|r| r.strip_prefix(':'))
            .unwrap_or(entry);
        format!("{}:__lock:{rest}", self.namespace)
    }

    /// The backplane channel of the namespace.
    pub(crate) fn channel(&self) -> String {
        format!("{}:__bus", self.namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::Keys;

    #[test]
    fn one_server_and_cluster_names() {
        let k = Keys::new("ns", false);
        assert_eq!(k.entry("users", "ns:users:v0:ab".into()), "ns:users:v0:ab");
        assert_eq!(k.generation("users"), "ns:__gen:users");
        assert_eq!(k.tag("t"), "ns:__tag:t");
        assert_eq!(k.lock("users", "ns:users:v0:ab"), "ns:__lock:users:v0:ab");
        assert_eq!(k.channel(), "ns:__bus");
        let c = Keys::new("ns", true);
        let e = c.entry("users", "ns:users:v0:ab".into());
        assert_eq!(e, "{ns:users}:v0:ab");
        assert_eq!(c.generation("users"), "{ns:users}:__gen");
        assert_eq!(c.lock("users", &e), "{ns:users}:__lock:v0:ab");
    }
}

//! A small map by text that starts again when full: for caches whose
//! callers send a handful of distinct keys (documents, introspection
//! queries, tokens), where a flood of distinct ones only keeps it from
//! helping, never makes it grow.

use std::collections::HashMap;
use std::sync::Mutex;

pub struct Bounded<V> {
    entries: Mutex<HashMap<String, V>>,
    capacity: usize,
}

impl<V: Clone> Bounded<V> {
    pub fn new(capacity: usize) -> Self {
        Self { entries: Mutex::new(HashMap::new()), capacity }
    }

    pub fn get(&self, key: &str) -> Option<V> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }

    pub fn put(&self, key: String, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_cache_starts_again_when_full() {
        let cache = Bounded::new(2);
        cache.put("a".into(), 1);
        cache.put("b".into(), 2);
        assert_eq!((cache.get("a"), cache.get("b")), (Some(1), Some(2)));
        cache.put("c".into(), 3);
        assert_eq!((cache.get("a"), cache.get("b"), cache.get("c")), (None, None, Some(3)));
    }
}

//! What the file server learned about a file, kept for a second: its
//! resolved path (already checked to stay under the root), its size, time,
//! validators and content type, and the bytes of a small file. A hit costs
//! no system call at all; that is what lighttpd's stat cache and nginx's
//! `open_file_cache` buy, and on a small file it is most of a request's
//! cost (stat, the path walk that resolves links, open, read, close).
//!
//! The price: a file changed on disk is seen up to [`FRESH_FOR`] later.
//! The table is bounded (entries and file bytes): when full it is emptied
//! and refilled.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How long an entry is trusted before the file is looked at again.
pub const FRESH_FOR: Duration = Duration::from_secs(1);
/// The most entries kept.
const MAX_ENTRIES: usize = 4096;
/// The most file bytes kept in all.
const MAX_BYTES: usize = 16 << 20;

/// A regular file under the root, as last seen.
#[derive(Debug)]
pub struct FileMeta {
    /// Its path, links resolved and checked.
    pub path: PathBuf,
    /// Its size.
    pub len: u64,
    /// Its modification time.
    pub mtime: SystemTime,
    /// Its `ETag`.
    pub etag: String,
    /// Its `Last-Modified`.
    pub last_modified: String,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes, when it is small enough to keep.
    pub bytes: Option<Vec<u8>>,
}

/// The table, shared by every connection of a server.
#[derive(Debug, Default)]
pub struct MetaCache {
    map: Mutex<Table>,
}

/// The entries and the file bytes they hold.
#[derive(Debug, Default)]
struct Table {
    entries: HashMap<String, (Instant, Arc<FileMeta>)>,
    bytes: usize,
}

impl MetaCache {
    /// The entry for `key` if it was seen within [`FRESH_FOR`] of `now`.
    pub fn get(&self, key: &str, now: Instant) -> Option<Arc<FileMeta>> {
        let map = self.map.lock().ok()?;
        let (seen, meta) = map.entries.get(key)?;
        (now.duration_since(*seen) < FRESH_FOR).then(|| Arc::clone(meta))
    }

    /// Keeps `meta` for `key`, as seen at `now`.
    pub fn put(&self, key: String, meta: Arc<FileMeta>, now: Instant) {
        let size = |m: &FileMeta| m.bytes.as_ref().map_or(0, Vec::len);
        if let Ok(mut map) = self.map.lock() {
            let adding = size(&meta);
            if (map.entries.len() >= MAX_ENTRIES && !map.entries.contains_key(&key)) || map.bytes + adding > MAX_BYTES {
                map.entries.clear();
                map.bytes = 0;
            }
            if let Some((_, old)) = map.entries.insert(key, (now, meta)) {
                map.bytes -= size(&old);
            }
            map.bytes += adding;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Arc<FileMeta> {
        Arc::new(FileMeta {
            path: PathBuf::from("/x"),
            len: 1,
            mtime: SystemTime::UNIX_EPOCH,
            etag: "\"e\"".into(),
            last_modified: String::new(),
            content_type: "text/plain",
            bytes: None,
        })
    }

    #[test]
    fn entries_expire_and_the_table_stays_bounded() {
        let cache = MetaCache::default();
        let now = Instant::now();
        cache.put("a".into(), meta(), now);
        assert!(cache.get("a", now + FRESH_FOR / 2).is_some());
        assert!(cache.get("a", now + FRESH_FOR).is_none(), "stale after FRESH_FOR");
        for i in 0..MAX_ENTRIES + 10 {
            cache.put(i.to_string(), meta(), now);
        }
        assert!(cache.map.lock().expect("lock").entries.len() <= MAX_ENTRIES);
    }
}

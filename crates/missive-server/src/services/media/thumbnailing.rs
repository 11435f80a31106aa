//! What bounds thumbnail generation across requests: at most one decode
//! per core at a time (each holds a whole decoded image: 108 MB for a
//! 36-megapixel RGB picture), and one generation per image, which the
//! other requests for that image wait for instead of decoding it again.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::Semaphore;

pub struct Thumbnailing {
    /// One permit per decode running.
    pub decodes: Semaphore,
    /// The generation lock of each image being thumbnailed, by hash.
    generating: KeyedLocks,
}

impl Thumbnailing {
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            decodes: Semaphore::new(cores),
            generating: KeyedLocks::default(),
        }
    }

    /// The generation lock for the image `sha256`; hand it back with
    /// [`Self::release`].
    pub fn lock_for(&self, sha256: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.generating.lock_for(sha256)
    }

    /// Forgets the lock of `sha256` once no other request holds it.
    pub fn release(&self, sha256: &str, lock: Arc<tokio::sync::Mutex<()>>) {
        self.generating.release(sha256, lock);
    }
}

/// One asynchronous lock per key, kept only while someone holds or waits
/// for it: work on one key (a thumbnail generation, a remote fetch) is
/// done once while the other requests for it wait.
#[derive(Default)]
pub struct KeyedLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl KeyedLocks {
    /// The lock of `key`; hand it back with [`Self::release`].
    pub fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(key.to_owned()).or_default().clone()
    }

    /// Forgets the lock of `key` once no other request holds it.
    pub fn release(&self, key: &str, lock: Arc<tokio::sync::Mutex<()>>) {
        let mut map = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        // Ours and the map's: nobody else is waiting.
        if Arc::strong_count(&lock) <= 2 {
            map.remove(key);
        }
    }
}

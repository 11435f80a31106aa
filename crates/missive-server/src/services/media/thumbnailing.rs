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
    generating: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Thumbnailing {
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            decodes: Semaphore::new(cores),
            generating: Mutex::new(HashMap::new()),
        }
    }

    /// The generation lock for the image `sha256`; hand it back with
    /// [`Self::release`].
    pub fn lock_for(&self, sha256: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.generating.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(sha256.to_owned()).or_default().clone()
    }

    /// Forgets the lock of `sha256` once no other request holds it.
    pub fn release(&self, sha256: &str, lock: Arc<tokio::sync::Mutex<()>>) {
        let mut map = self.generating.lock().unwrap_or_else(|e| e.into_inner());
        // Ours and the map's: nobody else is waiting.
        if Arc::strong_count(&lock) <= 2 {
            map.remove(sha256);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_shared_while_held_and_forgotten_after() {
        let t = Thumbnailing::new();
        let a = t.lock_for("x");
        let b = t.lock_for("x");
        assert!(Arc::ptr_eq(&a, &b));
        t.release("x", a);
        assert_eq!(t.generating.lock().unwrap().len(), 1, "b still holds it");
        t.release("x", b);
        assert!(t.generating.lock().unwrap().is_empty());
    }
}

//! Caches of the hottest reads (an access token's owner, a room's push
//! targets, a user's memberships), exact because this process makes every
//! write they depend on.
//!
//! Only on SQLite: one server process owns the file, so it sees every
//! write (the admin command only adds accounts and registration tokens,
//! which nothing here caches). On PostgreSQL other processes write too, and
//! every read goes to the database.
//!
//! Exactness: a reader takes the cache's generation before it reads the
//! database and keeps its answer only if no invalidation happened
//! meanwhile; a writer invalidates after its commit. An answer read before
//! a commit is thus either refused when kept or removed by the
//! invalidation; one read after the commit is current.

use std::{
    borrow::Borrow,
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex},
};

use crate::{Membership, PushTarget, PusherRecord, StoreResult, devices::TokenUser};

/// Tokens kept at most (a bound on memory, far above the active sessions
/// of one machine).
const MAX_TOKENS: usize = 100_000;

/// Rooms whose push targets are kept at most.
const MAX_ROOMS: usize = 10_000;

/// Users whose memberships are kept at most.
const MAX_USERS: usize = 100_000;

/// Users whose pushers, and account data entries, are kept at most.
const MAX_ENTRIES: usize = 100_000;

/// The store's caches, shared by every copy of the store.
pub(crate) struct Caches {
    /// Access token hash -> its device and account flags.
    pub(crate) tokens: ReadCache<String, TokenUser>,
    /// Room ID -> its joined members' push targets (which tell whether a
    /// member has a pusher: forget them through [`Caches::pushers_changed`]).
    pub(crate) push_targets: ReadCache<String, Arc<[PushTarget]>>,
    /// User ID -> the user's memberships not forgotten (every sync asks).
    pub(crate) memberships: ReadCache<String, Vec<Membership>>,
    /// User ID -> the user's pushers (push delivery asks at every
    /// notification, and most users have none).
    pub(crate) pushers: ReadCache<String, Vec<PusherRecord>>,
    /// [`account_data_key`] -> that account data entry's content, or
    /// `None` where unset (every sync reads the ignored-user list, which
    /// most users never set).
    pub(crate) account_data: ReadCache<String, Option<String>>,
}

/// The key of one account data entry in [`Caches::account_data`]: NUL
/// cannot occur in a user ID, room ID or data type that reached the store.
pub(crate) fn account_data_key(user_id: &str, room_id: &str, data_type: &str) -> String {
    format!("{user_id}\0{room_id}\0{data_type}")
}

impl Caches {
    /// After a write that may add or remove pushers: of `user`, or of
    /// anyone (`None`).
    pub(crate) fn pushers_changed(&self, user: Option<&str>) {
        match user {
            Some(user) => self.pushers.forget(user),
            None => self.pushers.forget_all(),
        }
        self.push_targets.forget_all();
    }

    /// `enabled`: whether this process sees every write (SQLite).
    pub(crate) fn new(enabled: bool) -> Arc<Self> {
        Arc::new(Self {
            tokens: ReadCache::new(enabled, MAX_TOKENS),
            push_targets: ReadCache::new(enabled, MAX_ROOMS),
            memberships: ReadCache::new(enabled, MAX_USERS),
            pushers: ReadCache::new(enabled, MAX_ENTRIES),
            account_data: ReadCache::new(enabled, MAX_ENTRIES),
        })
    }
}

/// A map of read results that writes invalidate (see the module docs).
pub(crate) struct ReadCache<K, V> {
    enabled: bool,
    /// A bound, not an eviction policy: when full, the cache starts over.
    max_entries: usize,
    state: Mutex<State<K, V>>,
}

struct State<K, V> {
    generation: u64,
    entries: HashMap<K, V>,
}

impl<K: Hash + Eq, V: Clone> ReadCache<K, V> {
    pub(crate) fn new(enabled: bool, max_entries: usize) -> Self {
        Self {
            enabled,
            max_entries,
            state: Mutex::new(State {
                generation: 0,
                entries: HashMap::new(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State<K, V>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if !self.enabled {
            return None;
        }
        self.state().entries.get(key).cloned()
    }

    /// Taken before reading the database; hand it back to [`Self::put`].
    fn generation(&self) -> u64 {
        self.state().generation
    }

    /// Keeps `value`, read from the database after `read_at` was taken,
    /// unless something was invalidated since.
    fn put(&self, read_at: u64, key: K, value: V) {
        if !self.enabled {
            return;
        }
        let mut state = self.state();
        if state.generation != read_at {
            return;
        }
        if state.entries.len() >= self.max_entries {
            state.entries.clear();
        }
        state.entries.insert(key, value);
    }

    /// After a commit that changed what `key` reads.
    pub(crate) fn forget<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut state = self.state();
        state.generation += 1;
        state.entries.remove(key);
    }

    /// After a commit that may have changed any entry.
    pub(crate) fn forget_all(&self) {
        let mut state = self.state();
        state.generation += 1;
        state.entries.clear();
    }
}

impl<V: Clone> ReadCache<String, V> {
    /// The cached answer for `key`, or else `read`'s (a database read,
    /// started only after the generation is taken), kept unless a write
    /// invalidated meanwhile. An answer of `None` is not kept.
    pub(crate) async fn read_through(
        &self,
        key: &str,
        read: impl Future<Output = StoreResult<Option<V>>>,
    ) -> StoreResult<Option<V>> {
        if let Some(value) = self.get(key) {
            return Ok(Some(value));
        }
        let read_at = self.generation();
        let value = read.await?;
        if let Some(value) = &value {
            self.put(read_at, key.to_owned(), value.clone());
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_read_before_an_invalidation_is_not_kept() {
        let cache = ReadCache::new(true, 10);
        let read_at = cache.generation();
        cache.forget("k");
        cache.put(read_at, "k".to_owned(), 1);
        assert_eq!(cache.get("k"), None);
        cache.put(cache.generation(), "k".to_owned(), 2);
        assert_eq!(cache.get("k"), Some(2));
    }

    #[test]
    fn forgetting_removes_one_entry_or_all() {
        let cache = ReadCache::new(true, 10);
        cache.put(0, "a".to_owned(), 1);
        cache.put(0, "b".to_owned(), 2);
        cache.forget("a");
        assert_eq!((cache.get("a"), cache.get("b")), (None, Some(2)));
        cache.forget_all();
        assert_eq!(cache.get("b"), None);
    }

    #[test]
    fn a_disabled_cache_keeps_nothing() {
        let cache = ReadCache::new(false, 10);
        cache.put(0, "a".to_owned(), 1);
        assert_eq!(cache.get("a"), None);
    }

    #[tokio::test]
    async fn reading_through_keeps_answers_but_not_misses() {
        let cache = ReadCache::new(true, 10);
        let read = |v: Option<i32>| async move { Ok(v) };
        assert_eq!(cache.read_through("a", read(None)).await.unwrap(), None);
        assert_eq!(cache.get("a"), None);
        assert_eq!(
            cache.read_through("a", read(Some(1))).await.unwrap(),
            Some(1)
        );
        // Kept: a later read is not asked.
        assert_eq!(
            cache.read_through("a", read(Some(2))).await.unwrap(),
            Some(1)
        );
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = ReadCache::new(true, 2);
        cache.put(0, "a".to_owned(), 1);
        cache.put(0, "b".to_owned(), 2);
        cache.put(0, "c".to_owned(), 3);
        assert_eq!(
            (cache.get("a"), cache.get("b"), cache.get("c")),
            (None, None, Some(3))
        );
    }
}

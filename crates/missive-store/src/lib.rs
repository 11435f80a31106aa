//! Missive's storage layer.
//!
//! Every domain has its own narrow trait (accounts, devices, rooms and events,
//! account data, receipts, ...). [`SqlStore`] implements all of them on top of
//! either SQLite (the embedded default) or PostgreSQL; the SQL is written once
//! in the common dialect of both and sent through sqlx's `Any` driver, while the
//! schema migrations are kept per backend. The conformance suite in
//! `conformance` runs the same checks against each backend; it is compiled
//! only with the `testing` feature, which the crate's own tests turn on, so
//! it never reaches the release binary.

#![forbid(unsafe_code)]

mod account_data;
mod accounts;
mod backfill;
mod backup;
mod blobs;
#[cfg(feature = "testing")]
pub mod conformance;
mod dehydrated;
mod devices;
mod directory;
mod error;
mod event_types;
mod event_writes;
mod events;
mod federation_outbox;
mod filters;
mod group_commit;
mod identity;
mod keys;
mod media;
mod message_batch;
mod openid;
mod pool;
mod presence;
mod push_targets;
mod pushers;
mod read_cache;
mod receipts;
mod relations;
mod remote_devices;
mod remote_events;
mod reports;
mod search;
mod server_keys;
mod stream_changes;
mod stream_pos;
mod sync_batch;
mod threepids;
mod timestamps;
mod to_device;
mod typing;
mod uiaa;

pub use account_data::AccountDataStore;
pub use accounts::{AccountStore, NewUser, RegistrationToken, UserRecord, UserSearchScope};
pub use backfill::BackfillStore;
pub use backup::{BackedUpKey, BackupStore, BackupVersion};
pub use blobs::{BlobInfo, BlobStore, BlobWriter, FsBlobStore, default_root as default_blob_root};
pub use dehydrated::DehydratedDeviceStore;
pub use devices::{DeviceRecord, DeviceStore, TokenOwner, TokenUser};
pub use directory::DirectoryStore;
pub use error::{StoreError, StoreResult};
pub use events::{
    EventStore, Membership, NewEvent, NewRelation, PersistOutcome, RoomRecord, StateMap,
    StoredEvent, TimelineDirection,
};
pub use federation_outbox::{
    FederationOutboxStore, FederationSenderLock, MAX_TXN_EDUS, MAX_TXN_PDUS, OutboundTxn,
    PendingDestination,
};
pub use filters::FilterStore;
pub use identity::{IdentityStore, ThirdPartyInvite};
pub use keys::{DeviceListBump, KeyStore, OneTimeKey};
pub use media::{MediaRecord, MediaStore, ThumbnailRecord};
pub use openid::OpenIdStore;
pub use pool::{Backend, SqlStore, StoreOptions};
pub use presence::{PresenceRecord, PresenceStore};
pub use push_targets::{PushTarget, PushTargetStore};
pub use pushers::{NotifiedEvent, PushDeliveryLock, PusherRecord, PusherStore};
pub use receipts::{ReceiptRecord, ReceiptStore};
pub use relations::{
    MAX_RELATION_DEPTH, RelationAggregate, RelationQuery, RelationStore, ThreadRecord,
    ThreadSummary, ThreadUnread,
};
pub use remote_devices::{RemoteDeviceList, RemoteDeviceStore};
pub use remote_events::{RemoteEventStore, RemoteOutcome, RemoteWrite, StateEntry};
pub use reports::{ContentReport, NewReport, ReportStore};
pub use search::{SearchFrom, SearchHit, SearchOrder, SearchQuery, SearchStore};
pub use server_keys::{ServerKeyStore, ServerSigningKey};
pub use stream_changes::StreamKind;
pub use stream_pos::StreamPos;
pub use sync_batch::{DeviceSyncCounts, SyncBatchStore};
pub use threepids::{ThreepidSession, ThreepidStore, UserThreepid};
pub use timestamps::EventTimeStore;
pub use to_device::{ToDeviceMessage, ToDeviceStore};
pub use typing::TypingStore;
pub use uiaa::{UiaaSession, UiaaStore};

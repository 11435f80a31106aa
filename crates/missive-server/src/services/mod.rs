//! What the server does, behind the HTTP layer: each service owns one
//! concern and holds only the store traits and handles it needs.

pub mod account_data;
pub mod accounts;
pub mod audience;
pub mod backup;
pub mod deactivation;
pub mod dehydrated;
pub mod devices;
pub mod directory;
pub mod e2ee;
pub mod ephemeral;
pub mod federation;
pub mod filters;
pub mod identity;
pub mod mail;
pub mod media;
pub mod notifier;
pub mod openid;
pub mod passwords;
pub mod presence;
pub mod profiles;
pub mod push;
pub mod push_rules;
pub mod rate_limit;
pub mod reader;
pub mod registration;
pub mod reports;
pub mod rooms;
pub mod search;
pub mod signing_key;
pub mod spaces;
pub mod sync;
pub mod threepids;
pub mod turn;
pub mod uiaa;

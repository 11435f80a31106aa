//! Server configuration: a TOML file, overridden by `MISSIVE_*` variables.

use std::{net::SocketAddr, path::PathBuf};

use serde::{Deserialize, Serialize};

/// Who may create an account through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationMode {
    /// Only admins, with `missive-server admin create-user`.
    Disabled,
    /// Anyone (`m.login.dummy`).
    Open,
    /// Anyone holding a registration token (`m.login.registration_token`).
    Token,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The Matrix server name: the part after `:` in user IDs.
    pub server_name: String,
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Where the SQLite database, signing key and media live.
    pub data_dir: PathBuf,
    /// `postgres://...` to use PostgreSQL; unset for SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// PostgreSQL pool size of this process.
    pub database_max_connections: u32,
    pub registration: RegistrationMode,
    /// Whether registering needs a validated e-mail address (the
    /// `m.login.email.identity` stage), which then becomes the account's.
    pub registration_requires_email: bool,
    pub smtp: SmtpConfig,
    /// Whether guest accounts may be registered (`register?kind=guest`):
    /// off by default, as an administration's server has no anonymous
    /// readers unless it says so.
    pub guest_access: bool,
    pub rate_limits: RateLimits,
    /// The public base URL clients reach (for `.well-known`); defaults to
    /// `http://{listen}`.
    pub public_baseurl: Option<String>,
    /// Largest request body accepted, in bytes (media uploads excepted).
    pub max_request_bytes: usize,
    /// Whether presence is tracked and sent.
    pub presence: bool,
    /// Log format: `pretty` or `json`.
    pub log_format: String,
    pub media: MediaConfig,
    /// The built web client served at `/` (`make web` writes `web/dist`);
    /// nothing is served there when the directory holds no `index.html`.
    pub web_client_dir: Option<PathBuf>,
    /// Whether the user directory finds every local user (an
    /// organisation's directory, the default) or only those sharing a room
    /// with the searcher or in public rooms (Synapse's default).
    pub user_directory_search_all: bool,
    /// Seconds a client has to send a request's header once it started
    /// it; the connection is closed after that.
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may stay open with no request in flight
    /// (before its first request, or between keep-alive requests); a
    /// request in flight, such as a long-poll `/sync`, is never cut.
    pub idle_timeout_secs: u64,
    /// Connections served at once; when full the server stops accepting
    /// until one closes. 0: derived from the open-files limit.
    pub max_connections: usize,
    pub push: PushConfig,
    pub federation: FederationConfig,
    pub turn: TurnConfig,
}

/// The TURN relay calls go through (coturn with `use-auth-secret`), whose
/// time-limited credentials `GET /voip/turnServer` hands out.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TurnConfig {
    /// `turn:`/`turns:` URIs clients try; empty: no TURN server.
    pub uris: Vec<String>,
    /// The secret shared with the TURN server (`static-auth-secret`).
    pub secret: Option<String>,
    /// How long credentials stay valid, in seconds.
    pub ttl_secs: u64,
    /// Whether guest accounts get credentials too.
    pub allow_guests: bool,
}

impl Default for TurnConfig {
    fn default() -> Self {
        Self {
            uris: Vec::new(),
            secret: None,
            ttl_secs: 86_400,
            allow_guests: false,
        }
    }
}

impl TurnConfig {
    fn apply_env(&mut self, var: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = var("MISSIVE_TURN_URIS") {
            self.uris = v
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(v) = var("MISSIVE_TURN_SECRET") {
            self.secret = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = var("MISSIVE_TURN_TTL") {
            self.ttl_secs = v
                .parse()
                .map_err(|_| ConfigError::Env("MISSIVE_TURN_TTL", v))?;
        }
        if let Some(v) = var("MISSIVE_TURN_GUESTS") {
            self.allow_guests = match v.as_str() {
                "on" => true,
                "off" => false,
                _ => return Err(ConfigError::Env("MISSIVE_TURN_GUESTS", v)),
            };
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self
            .uris
            .iter()
            .any(|u| !(u.starts_with("turn:") || u.starts_with("turns:")))
        {
            return Err(ConfigError::Invalid(
                "turn.uris",
                "entries must be turn: or turns: URIs",
            ));
        }
        if !self.uris.is_empty() && self.secret.is_none() {
            return Err(ConfigError::Invalid(
                "turn.secret",
                "TURN URIs need the secret shared with the TURN server (MISSIVE_TURN_SECRET)",
            ));
        }
        if self.ttl_secs == 0 {
            return Err(ConfigError::Invalid("turn.ttl_secs", "must be above 0"));
        }
        Ok(())
    }
}

/// The Server-Server API: a TLS listener for other servers, and the
/// client this server reaches them with.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FederationConfig {
    /// `addr:port` of the TLS federation listener; unset: federation off
    /// (nothing is sent to other servers, nothing is accepted from them).
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain and private key of that listener; unset: a
    /// self-signed pair is generated in the data directory on first start.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Whether other servers' certificates are verified (off: accept
    /// self-signed peers, for tests and closed networks).
    pub verify_tls: bool,
    /// Internal address ranges (CIDR) other servers may still be at;
    /// loopback, private and link-local addresses are refused otherwise.
    pub ip_allowlist: Vec<String>,
    /// The only servers talked to, both ways; empty: open federation.
    pub domain_allowlist: Vec<String>,
}

impl FederationConfig {
    fn apply_env(&mut self, var: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = var("MISSIVE_FEDERATION_LISTEN") {
            self.listen = if v.is_empty() {
                None
            } else {
                Some(
                    v.parse()
                        .map_err(|_| ConfigError::Env("MISSIVE_FEDERATION_LISTEN", v))?,
                )
            };
        }
        if let Some(v) = var("MISSIVE_TLS_CERT") {
            self.tls_cert = (!v.is_empty()).then(|| v.into());
        }
        if let Some(v) = var("MISSIVE_TLS_KEY") {
            self.tls_key = (!v.is_empty()).then(|| v.into());
        }
        if let Some(v) = var("MISSIVE_FEDERATION_VERIFY_TLS") {
            self.verify_tls = match v.as_str() {
                "on" => true,
                "off" => false,
                _ => return Err(ConfigError::Env("MISSIVE_FEDERATION_VERIFY_TLS", v)),
            };
        }
        if let Some(v) = var("MISSIVE_FEDERATION_IP_ALLOWLIST") {
            self.ip_allowlist = cidr_list(&v)
                .ok_or_else(|| ConfigError::Env("MISSIVE_FEDERATION_IP_ALLOWLIST", v.clone()))?;
        }
        if let Some(v) = var("MISSIVE_FEDERATION_DOMAIN_ALLOWLIST") {
            let names: Vec<String> = v
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
            if names.iter().any(|n| ruma::ServerName::parse(n).is_err()) {
                return Err(ConfigError::Env("MISSIVE_FEDERATION_DOMAIN_ALLOWLIST", v));
            }
            self.domain_allowlist = names;
        }
        Ok(())
    }
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            listen: None,
            tls_cert: None,
            tls_key: None,
            verify_tls: true,
            ip_allowlist: Vec::new(),
            domain_allowlist: Vec::new(),
        }
    }
}

/// Outgoing mail (e-mail validation, password resets, invitations).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// lettre's URL form: `smtp://host:port` (plain), `?tls=required`
    /// (STARTTLS), `smtps://user:pass@host:465` (TLS). Unset: no mail.
    pub url: Option<String>,
    /// The sender; `noreply@<server_name>` when unset.
    pub from: Option<String>,
}

/// Delivery of notifications to push gateways (mobile notifications).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// Whether this process may deliver to pushers (processes sharing a
    /// PostgreSQL database take turns through an advisory lock).
    pub enabled: bool,
    /// Internal address ranges push gateways may still be at (CIDR);
    /// loopback, private and link-local addresses are refused otherwise.
    pub ip_allowlist: Vec<String>,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ip_allowlist: Vec::new(),
        }
    }
}

/// The media repository and its antivirus.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// Largest file accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Bytes each user may store in all; 0 for no quota.
    pub quota_bytes: u64,
    /// Asynchronous upload reservations a user may hold at once.
    pub max_pending_uploads: i64,
    /// Serve the deprecated unauthenticated `/_matrix/media/v3/download`
    /// and `/thumbnail` endpoints (off, as in Synapse since the freeze).
    pub legacy_unauthenticated: bool,
    /// URL previews (off: the server would fetch what users link to).
    pub url_previews: bool,
    /// Internal address ranges previews may still reach (CIDR, e.g. an
    /// intranet `10.20.0.0/16`); loopback and private ranges are refused
    /// otherwise.
    pub url_preview_ip_allowlist: Vec<String>,
    /// clamd's socket: `unix:/run/clamav/clamd.ctl` or `tcp:host:3310`.
    /// Unset: no scanning.
    pub clamd: Option<String>,
    /// Accept files when clamd cannot be reached (default: refuse them).
    pub clamd_fail_open: bool,
    /// Largest image thumbnailed, in pixels (width x height), checked from
    /// the header before anything is decoded.
    pub max_image_pixels: u64,
    /// The thumbnails generated for an image (all of them from one decode,
    /// on the first request); a requested size is served by the closest
    /// of these, as Synapse does.
    pub thumbnail_sizes: Vec<ThumbnailSize>,
}

/// One configured thumbnail: a box and how the image fills it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThumbnailSize {
    pub width: u32,
    pub height: u32,
    pub method: ThumbnailMethod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThumbnailMethod {
    /// Fit inside the box, keeping the aspect ratio.
    Scale,
    /// Fill the box exactly, cropping the overflow.
    Crop,
}

impl ThumbnailMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ThumbnailMethod::Scale => "scale",
            ThumbnailMethod::Crop => "crop",
        }
    }
}

impl ThumbnailSize {
    const fn new(width: u32, height: u32, method: ThumbnailMethod) -> Self {
        Self {
            width,
            height,
            method,
        }
    }

    /// Synapse's default `thumbnail_sizes`.
    pub const DEFAULTS: [ThumbnailSize; 5] = [
        Self::new(32, 32, ThumbnailMethod::Crop),
        Self::new(96, 96, ThumbnailMethod::Crop),
        Self::new(320, 240, ThumbnailMethod::Scale),
        Self::new(640, 480, ThumbnailMethod::Scale),
        Self::new(800, 600, ThumbnailMethod::Scale),
    ];

    /// `"32x32 crop, 320x240 scale"`; `None` if any entry is malformed or
    /// the list is empty.
    pub fn parse_list(text: &str) -> Option<Vec<ThumbnailSize>> {
        let sizes = text
            .split(',')
            .map(|entry| {
                let (size, method) = entry.trim().split_once(' ')?;
                let (w, h) = size.split_once('x')?;
                let method = match method.trim() {
                    "scale" => ThumbnailMethod::Scale,
                    "crop" => ThumbnailMethod::Crop,
                    _ => return None,
                };
                let (width, height) = (w.parse().ok()?, h.parse().ok()?);
                (width > 0 && height > 0).then_some(Self::new(width, height, method))
            })
            .collect::<Option<Vec<_>>>()?;
        (!sizes.is_empty()).then_some(sizes)
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 100 * 1024 * 1024,
            quota_bytes: 10 * 1024 * 1024 * 1024,
            max_pending_uploads: 10,
            legacy_unauthenticated: false,
            url_previews: false,
            url_preview_ip_allowlist: Vec::new(),
            clamd: None,
            clamd_fail_open: false,
            // Above Synapse's 32 M so that a 36-megapixel photo (a common
            // camera size) still gets thumbnails.
            max_image_pixels: 40_000_000,
            thumbnail_sizes: ThumbnailSize::DEFAULTS.to_vec(),
        }
    }
}

/// Request rates, per user (or per IP before login).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    pub enabled: bool,
    /// Messages and state events a user may send per second, sustained.
    pub send_per_second: u32,
    pub send_burst: u32,
    /// Login attempts per IP per minute.
    pub login_per_minute: u32,
    /// Registrations per IP per minute.
    pub register_per_minute: u32,
    /// Validation mails per minute, per address and per IP, sustained...
    pub mail_per_minute: u32,
    /// ...after a burst of this many.
    pub mail_burst: u32,
    /// Requests another server may make per second, sustained (each
    /// transaction of up to 50 events and 100 EDUs is one)...
    pub federation_per_second: u32,
    /// ...after a burst of this many.
    pub federation_burst: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            send_per_second: 10,
            send_burst: 50,
            login_per_minute: 30,
            register_per_minute: 10,
            mail_per_minute: 1,
            mail_burst: 5,
            federation_per_second: 50,
            federation_burst: 500,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server_name: "localhost".into(),
            listen: "127.0.0.1:8008".parse().expect("valid default address"),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            database_max_connections: 16,
            registration: RegistrationMode::Disabled,
            registration_requires_email: false,
            smtp: SmtpConfig::default(),
            guest_access: false,
            rate_limits: RateLimits::default(),
            public_baseurl: None,
            max_request_bytes: 1024 * 1024,
            presence: true,
            log_format: "pretty".into(),
            media: MediaConfig::default(),
            web_client_dir: Some(PathBuf::from("./web/dist")),
            user_directory_search_all: true,
            header_read_timeout_secs: 30,
            idle_timeout_secs: 60,
            max_connections: 0,
            push: PushConfig::default(),
            federation: FederationConfig::default(),
            turn: TurnConfig::default(),
        }
    }
}

/// A comma-separated list of CIDR ranges; `None` if one is malformed.
fn cidr_list(text: &str) -> Option<Vec<String>> {
    let nets: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect();
    nets.iter()
        .all(|n| n.parse::<ipnet::IpNet>().is_ok())
        .then_some(nets)
}

/// A configuration that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("invalid config file {0}: {1}")]
    Parse(PathBuf, toml::de::Error),
    #[error("invalid value for {0}: {1:?}")]
    Env(&'static str, String),
    #[error("invalid {0}: {1}")]
    Invalid(&'static str, &'static str),
}

impl Config {
    /// Loads the file (if any), then applies the environment.
    pub fn load(path: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).map_err(|e| ConfigError::Read(p.into(), e))?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse(p.into(), e))?
            }
            None => Config::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Refuses values that would break the server rather than configure
    /// it: a zero timeout closes every connection at once, and thumbnails
    /// need at least one size.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let zero = |name: &'static str| Err(ConfigError::Invalid(name, "must be above 0"));
        if self.header_read_timeout_secs == 0 {
            return zero("header_read_timeout_secs");
        }
        if self.idle_timeout_secs == 0 {
            return zero("idle_timeout_secs");
        }
        if self.registration_requires_email && self.smtp.url.is_none() {
            return Err(ConfigError::Invalid(
                "registration_requires_email",
                "needs smtp.url (MISSIVE_SMTP_URL) to send the validation mails",
            ));
        }
        if self.media.max_image_pixels == 0 {
            return zero("media.max_image_pixels");
        }
        if self
            .push
            .ip_allowlist
            .iter()
            .any(|n| n.parse::<ipnet::IpNet>().is_err())
        {
            return Err(ConfigError::Invalid(
                "push.ip_allowlist",
                "entries must be CIDR ranges",
            ));
        }
        if self
            .federation
            .ip_allowlist
            .iter()
            .any(|n| n.parse::<ipnet::IpNet>().is_err())
        {
            return Err(ConfigError::Invalid(
                "federation.ip_allowlist",
                "entries must be CIDR ranges",
            ));
        }
        if self
            .federation
            .domain_allowlist
            .iter()
            .any(|n| ruma::ServerName::parse(n).is_err())
        {
            return Err(ConfigError::Invalid(
                "federation.domain_allowlist",
                "entries must be server names",
            ));
        }
        self.turn.validate()?;
        if self.federation.tls_cert.is_some() != self.federation.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "federation.tls_cert",
                "tls_cert and tls_key go together (MISSIVE_TLS_CERT, MISSIVE_TLS_KEY)",
            ));
        }
        let sizes = &self.media.thumbnail_sizes;
        if sizes.is_empty() || sizes.iter().any(|s| s.width == 0 || s.height == 0) {
            return Err(ConfigError::Invalid(
                "media.thumbnail_sizes",
                "needs at least one size, each above 0 x 0",
            ));
        }
        Ok(())
    }

    /// Applies `MISSIVE_*` overrides read through `var`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = var("MISSIVE_SERVER_NAME") {
            self.server_name = v;
        }
        if let Some(v) = var("MISSIVE_LISTEN") {
            self.listen = v
                .parse()
                .map_err(|_| ConfigError::Env("MISSIVE_LISTEN", v))?;
        }
        if let Some(v) = var("MISSIVE_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = var("MISSIVE_DATABASE_URL") {
            self.database_url = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = var("MISSIVE_REGISTRATION") {
            self.registration = match v.as_str() {
                "disabled" => RegistrationMode::Disabled,
                "open" => RegistrationMode::Open,
                "token" => RegistrationMode::Token,
                _ => return Err(ConfigError::Env("MISSIVE_REGISTRATION", v)),
            };
        }
        if let Some(v) = var("MISSIVE_REGISTRATION_REQUIRES_EMAIL") {
            self.registration_requires_email = match v.as_str() {
                "on" => true,
                "off" => false,
                _ => return Err(ConfigError::Env("MISSIVE_REGISTRATION_REQUIRES_EMAIL", v)),
            };
        }
        if let Some(v) = var("MISSIVE_SMTP_URL") {
            self.smtp.url = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = var("MISSIVE_SMTP_FROM") {
            self.smtp.from = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = var("MISSIVE_RATE_LIMITS") {
            self.rate_limits.enabled = match v.as_str() {
                "on" => true,
                "off" => false,
                _ => return Err(ConfigError::Env("MISSIVE_RATE_LIMITS", v)),
            };
        }
        if let Some(v) = var("MISSIVE_PUBLIC_BASEURL") {
            self.public_baseurl = Some(v);
        }
        if let Some(v) = var("MISSIVE_PRESENCE") {
            self.presence = match v.as_str() {
                "on" => true,
                "off" => false,
                _ => return Err(ConfigError::Env("MISSIVE_PRESENCE", v)),
            };
        }
        if let Some(v) = var("MISSIVE_LOG_FORMAT") {
            self.log_format = v;
        }
        if let Some(v) = var("MISSIVE_MAX_UPLOAD_BYTES") {
            self.media.max_upload_bytes = v
                .parse()
                .map_err(|_| ConfigError::Env("MISSIVE_MAX_UPLOAD_BYTES", v))?;
        }
        if let Some(v) = var("MISSIVE_MEDIA_QUOTA_BYTES") {
            self.media.quota_bytes = v
                .parse()
                .map_err(|_| ConfigError::Env("MISSIVE_MEDIA_QUOTA_BYTES", v))?;
        }
        if let Some(v) = var("MISSIVE_URL_PREVIEWS") {
            self.media.url_previews = match v.as_str() {
                "on" => true,
                "off" => false,
                _ => return Err(ConfigError::Env("MISSIVE_URL_PREVIEWS", v)),
            };
        }
        if let Some(v) = var("MISSIVE_URL_PREVIEW_IP_ALLOWLIST") {
            let nets: Vec<String> = v
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
            if nets.iter().any(|n| n.parse::<ipnet::IpNet>().is_err()) {
                return Err(ConfigError::Env("MISSIVE_URL_PREVIEW_IP_ALLOWLIST", v));
            }
            self.media.url_preview_ip_allowlist = nets;
        }
        if let Some(v) = var("MISSIVE_PUSH") {
            self.push.enabled = match v.as_str() {
                "on" => true,
                "off" => false,
                _ => return Err(ConfigError::Env("MISSIVE_PUSH", v)),
            };
        }
        if let Some(v) = var("MISSIVE_PUSH_IP_ALLOWLIST") {
            self.push.ip_allowlist = cidr_list(&v)
                .ok_or_else(|| ConfigError::Env("MISSIVE_PUSH_IP_ALLOWLIST", v.clone()))?;
        }
        if let Some(v) = var("MISSIVE_CLAMD") {
            if !v.is_empty() && crate::services::media::antivirus::Clamd::parse(&v).is_none() {
                return Err(ConfigError::Env("MISSIVE_CLAMD", v));
            }
            self.media.clamd = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = var("MISSIVE_CLAMD_FAIL_OPEN") {
            self.media.clamd_fail_open = match v.as_str() {
                "on" => true,
                "off" => false,
                _ => return Err(ConfigError::Env("MISSIVE_CLAMD_FAIL_OPEN", v)),
            };
        }
        if let Some(v) = var("MISSIVE_GUEST_ACCESS") {
            self.guest_access = match v.as_str() {
                "on" => true,
                "off" => false,
                _ => return Err(ConfigError::Env("MISSIVE_GUEST_ACCESS", v)),
            };
        }
        if let Some(v) = var("MISSIVE_USER_DIRECTORY") {
            self.user_directory_search_all = match v.as_str() {
                "all" => true,
                "shared" => false,
                _ => return Err(ConfigError::Env("MISSIVE_USER_DIRECTORY", v)),
            };
        }
        for (key, field) in [
            (
                "MISSIVE_HEADER_READ_TIMEOUT_SECS",
                &mut self.header_read_timeout_secs,
            ),
            ("MISSIVE_IDLE_TIMEOUT_SECS", &mut self.idle_timeout_secs),
            ("MISSIVE_MAX_IMAGE_PIXELS", &mut self.media.max_image_pixels),
        ] {
            if let Some(v) = var(key) {
                *field = match v.parse() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(ConfigError::Env(key, v)),
                };
            }
        }
        if let Some(v) = var("MISSIVE_MAX_CONNECTIONS") {
            self.max_connections = v
                .parse()
                .map_err(|_| ConfigError::Env("MISSIVE_MAX_CONNECTIONS", v))?;
        }
        if let Some(v) = var("MISSIVE_THUMBNAIL_SIZES") {
            self.media.thumbnail_sizes = ThumbnailSize::parse_list(&v)
                .ok_or(ConfigError::Env("MISSIVE_THUMBNAIL_SIZES", v))?;
        }
        if let Some(v) = var("MISSIVE_WEB_CLIENT_DIR") {
            self.web_client_dir = (!v.is_empty()).then(|| v.into());
        }
        self.turn.apply_env(&var)?;
        self.federation.apply_env(&var)
    }

    pub fn public_baseurl(&self) -> String {
        self.public_baseurl
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_defaults() {
        let mut c = Config::default();
        let env = |k: &str| match k {
            "MISSIVE_SERVER_NAME" => Some("gouv.example".to_owned()),
            "MISSIVE_LISTEN" => Some("0.0.0.0:9000".to_owned()),
            "MISSIVE_REGISTRATION" => Some("token".to_owned()),
            "MISSIVE_RATE_LIMITS" => Some("off".to_owned()),
            "MISSIVE_DATABASE_URL" => Some("postgres://u@h/db".to_owned()),
            _ => None,
        };
        c.apply_env(env).unwrap();
        assert_eq!(c.server_name, "gouv.example");
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.registration, RegistrationMode::Token);
        assert!(!c.rate_limits.enabled);
        assert_eq!(c.database_url.as_deref(), Some("postgres://u@h/db"));
    }

    #[test]
    fn turn_settings_are_checked() {
        let with = |pairs: &'static [(&'static str, &'static str)]| {
            let mut c = Config::default();
            c.apply_env(|k| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            })
            .map(|()| c)
        };
        let c = with(&[
            (
                "MISSIVE_TURN_URIS",
                "turn:t.example:3478?transport=udp, turns:t.example:5349",
            ),
            ("MISSIVE_TURN_SECRET", "s"),
            ("MISSIVE_TURN_TTL", "3600"),
            ("MISSIVE_TURN_GUESTS", "on"),
        ])
        .unwrap();
        assert_eq!(c.turn.uris.len(), 2);
        assert_eq!(c.turn.ttl_secs, 3600);
        assert!(c.turn.allow_guests && c.validate().is_ok());
        let no_secret = with(&[("MISSIVE_TURN_URIS", "turn:t.example")]).unwrap();
        assert!(no_secret.validate().is_err());
        let not_turn = with(&[
            ("MISSIVE_TURN_URIS", "https://t.example"),
            ("MISSIVE_TURN_SECRET", "s"),
        ])
        .unwrap();
        assert!(not_turn.validate().is_err());
        assert!(with(&[("MISSIVE_TURN_TTL", "soon")]).is_err());
        assert!(with(&[("MISSIVE_TURN_GUESTS", "yes")]).is_err());
    }

    #[test]
    fn bad_values_are_refused() {
        let mut c = Config::default();
        assert!(
            c.apply_env(|k| (k == "MISSIVE_REGISTRATION").then(|| "maybe".into()))
                .is_err()
        );
        assert!(
            c.apply_env(|k| (k == "MISSIVE_LISTEN").then(|| "nowhere".into()))
                .is_err()
        );
    }

    #[test]
    fn connection_and_thumbnail_settings_from_the_environment() {
        let mut c = Config::default();
        let env = |k: &str| match k {
            "MISSIVE_HEADER_READ_TIMEOUT_SECS" => Some("5".to_owned()),
            "MISSIVE_IDLE_TIMEOUT_SECS" => Some("7".to_owned()),
            "MISSIVE_MAX_CONNECTIONS" => Some("100".to_owned()),
            "MISSIVE_MAX_IMAGE_PIXELS" => Some("1000".to_owned()),
            "MISSIVE_THUMBNAIL_SIZES" => Some("32x32 crop, 640x480 scale".to_owned()),
            _ => None,
        };
        c.apply_env(env).unwrap();
        assert_eq!((c.header_read_timeout_secs, c.idle_timeout_secs), (5, 7));
        assert_eq!(c.max_connections, 100);
        assert_eq!(c.media.max_image_pixels, 1000);
        assert_eq!(
            c.media.thumbnail_sizes,
            [
                ThumbnailSize::new(32, 32, ThumbnailMethod::Crop),
                ThumbnailSize::new(640, 480, ThumbnailMethod::Scale)
            ]
        );
        for (key, bad) in [
            ("MISSIVE_IDLE_TIMEOUT_SECS", "0"),
            ("MISSIVE_HEADER_READ_TIMEOUT_SECS", "soon"),
            ("MISSIVE_THUMBNAIL_SIZES", "32x32 stretch"),
            ("MISSIVE_THUMBNAIL_SIZES", ""),
        ] {
            let mut c = Config::default();
            assert!(
                c.apply_env(|k| (k == key).then(|| bad.into())).is_err(),
                "{key}={bad}"
            );
        }
    }

    #[test]
    fn settings_that_would_break_the_server_are_refused() {
        assert!(Config::default().validate().is_ok());
        let mut c: Config = toml::from_str("idle_timeout_secs = 0").unwrap();
        assert!(c.validate().is_err());
        c = toml::from_str("[media]\nthumbnail_sizes = []").unwrap();
        assert!(c.validate().is_err());
        c = toml::from_str(
            "[media]\nthumbnail_sizes = [{ width = 0, height = 5, method = \"crop\" }]",
        )
        .unwrap();
        assert!(c.validate().is_err());
    }

    #[test]
    fn federation_settings_from_the_environment() {
        let mut c = Config::default();
        assert_eq!(c.federation.listen, None);
        assert!(c.federation.verify_tls);
        let env = |k: &str| match k {
            "MISSIVE_FEDERATION_LISTEN" => Some("127.0.0.1:8448".to_owned()),
            "MISSIVE_FEDERATION_VERIFY_TLS" => Some("off".to_owned()),
            "MISSIVE_FEDERATION_IP_ALLOWLIST" => Some("127.0.0.0/8, 10.0.0.0/8".to_owned()),
            "MISSIVE_FEDERATION_DOMAIN_ALLOWLIST" => {
                Some("a.gouv.example,127.0.0.1:8448".to_owned())
            }
            "MISSIVE_TLS_CERT" => Some("/etc/missive/cert.pem".to_owned()),
            "MISSIVE_TLS_KEY" => Some("/etc/missive/key.pem".to_owned()),
            _ => None,
        };
        c.apply_env(env).unwrap();
        c.validate().unwrap();
        assert_eq!(c.federation.listen.map(|l| l.port()), Some(8448));
        assert!(!c.federation.verify_tls);
        assert_eq!(c.federation.ip_allowlist, ["127.0.0.0/8", "10.0.0.0/8"]);
        assert_eq!(
            c.federation.domain_allowlist,
            ["a.gouv.example", "127.0.0.1:8448"]
        );
        for (key, bad) in [
            ("MISSIVE_FEDERATION_LISTEN", "anywhere"),
            ("MISSIVE_FEDERATION_VERIFY_TLS", "maybe"),
            ("MISSIVE_FEDERATION_IP_ALLOWLIST", "localhost"),
            ("MISSIVE_FEDERATION_DOMAIN_ALLOWLIST", "not a name"),
        ] {
            let mut c = Config::default();
            assert!(
                c.apply_env(|k| (k == key).then(|| bad.into())).is_err(),
                "{key}={bad}"
            );
        }
        let mut c = Config::default();
        c.federation.tls_cert = Some("cert.pem".into());
        assert!(c.validate().is_err(), "a certificate needs its key");
    }

    #[test]
    fn example_config_parses() {
        let text = include_str!("../../../missive.example.toml");
        let c: Config = toml::from_str(text).unwrap();
        assert_eq!(c.server_name, "localhost");
        c.validate().unwrap();
        assert_eq!(c.media.thumbnail_sizes, ThumbnailSize::DEFAULTS);
    }
}

//! The web client (built into `web/dist` by `make web`), served at `/`.
//!
//! Everything that is not a Matrix endpoint falls through to here. Vite
//! names the files under `/assets/` after their content hash, so they are
//! cached for a year; the entry points (`index.html`, the service worker,
//! the manifest, `config.json`) are revalidated on every load so that a new
//! release reaches browsers at once.

use std::{path::PathBuf, sync::Arc};

use axum::{
    Json,
    body::Body,
    extract::{Request, State},
    response::{IntoResponse, Response},
};
use http::{HeaderValue, header};
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

use crate::{config::Config, error::ApiError};

/// The browser may run our scripts and the crypto wasm, talk to this origin
/// only, and show images and media decrypted into `blob:` URLs.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; media-src 'self' blob:; \
     connect-src 'self'; worker-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'none'; object-src 'none'";

/// Path prefixes that belong to the Matrix APIs: unknown paths under them
/// answer `M_UNRECOGNIZED`, never the web client's page.
const API_PREFIXES: &[&str] = &["/_matrix/", "/_synapse/", "/.well-known/"];

/// Where the built web client lives, if it is served at all.
#[derive(Clone, Debug)]
pub struct WebClient {
    dir: Option<PathBuf>,
}

impl WebClient {
    /// Serves `dir` when it holds a built client (`index.html`).
    pub fn new(dir: Option<PathBuf>) -> Self {
        let dir = dir.filter(|d| d.join("index.html").is_file());
        if dir.is_none() {
            tracing::info!("no built web client found; `/` answers 404 (run `make web`)");
        }
        Self { dir }
    }
}

/// The built client's files. Directories are never redirected to their
/// slashed form: for `//assets` that redirect was `Location: //assets/`, a
/// host-relative URL (an open redirect); a directory gets the app shell
/// or a 404 like any other unknown path.
fn files(dir: &std::path::Path) -> ServeDir {
    ServeDir::new(dir)
        .precompressed_gzip()
        .append_index_html_on_directories(false)
}

/// Fallback for every path no Matrix route matched.
pub async fn serve(State(web): State<Arc<WebClient>>, req: Request) -> Response {
    let path = req.uri().path();
    let is_api = API_PREFIXES.iter().any(|p| path.starts_with(p));
    let Some(dir) = web.dir.as_ref().filter(|_| !is_api) else {
        return ApiError::Unrecognized.into_response();
    };
    let is_asset = path.starts_with("/assets/");
    let result = if is_asset {
        // A missing asset is a 404, never the app shell cached for a year.
        files(dir).oneshot(req).await
    } else {
        // Other unknown paths get the app shell: the client routes itself.
        files(dir)
            .fallback(ServeFile::new(dir.join("index.html")))
            .oneshot(req)
            .await
    };
    let mut response = match result {
        Ok(r) => r.map(Body::new),
        Err(never) => match never {},
    };
    let immutable = is_asset && response.status().is_success();
    let headers = response.headers_mut();
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `GET /config.json`: where the client finds its homeserver. Without a
/// configured public base URL the client uses the origin it was loaded
/// from, which also works for phones reaching the server by another name.
pub async fn client_config(State(config): State<Arc<Config>>) -> impl IntoResponse {
    let body: Value = json!({
        "homeserver_url": config.public_baseurl,
        "server_name": config.server_name,
        "registration": config.registration,
    });
    ([(header::CACHE_CONTROL, "no-cache")], Json(body))
}

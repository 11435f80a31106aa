//! URL previews (OpenGraph), off by default. When on, the server fetches
//! what users link to, so every fetch is guarded against server-side request
//! forgery: only http(s), every resolved address checked against private,
//! loopback and link-local ranges (unless explicitly allowed), the vetted
//! address pinned for the connection (no DNS rebinding), redirects followed
//! by hand with the same checks, and bounded size and time.

use std::time::Duration;

use ipnet::IpNet;

/// Bytes of HTML read at most.
const MAX_HTML_BYTES: usize = 1024 * 1024;
const MAX_REDIRECTS: usize = 5;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PreviewError {
    #[error("only http and https URLs can be previewed")]
    Scheme,
    #[error("invalid URL")]
    InvalidUrl,
    #[error("this address may not be previewed")]
    Forbidden,
    #[error("the page could not be fetched: {0}")]
    Fetch(String),
}

pub use missive_core::net::is_internal;

/// The OpenGraph data of a page.
pub type OpenGraph = serde_json::Map<String, serde_json::Value>;

/// Fetches `url` and extracts its OpenGraph metadata.
pub async fn preview(url: &str, allowed: &[IpNet]) -> Result<OpenGraph, PreviewError> {
    let mut current = reqwest::Url::parse(url).map_err(|_| PreviewError::InvalidUrl)?;
    for _ in 0..=MAX_REDIRECTS {
        let response = fetch_checked(&current, allowed).await?;
        if response.status().is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| PreviewError::Fetch("redirect without a location".into()))?;
            current = current
                .join(location)
                .map_err(|_| PreviewError::InvalidUrl)?;
            continue;
        }
        if !response.status().is_success() {
            return Err(PreviewError::Fetch(format!("status {}", response.status())));
        }
        let html = read_capped(response).await?;
        return Ok(open_graph(&html, &current));
    }
    Err(PreviewError::Fetch("too many redirects".into()))
}

async fn fetch_checked(
    url: &reqwest::Url,
    allowed: &[IpNet],
) -> Result<reqwest::Response, PreviewError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(PreviewError::Scheme);
    }
    let host = url.host_str().ok_or(PreviewError::InvalidUrl)?.to_owned();
    let port = url
        .port_or_known_default()
        .ok_or(PreviewError::InvalidUrl)?;
    let addrs: Vec<std::net::SocketAddr> =
        tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|e| PreviewError::Fetch(e.to_string()))?
            .collect();
    let addr = addrs
        .first()
        .copied()
        .ok_or_else(|| PreviewError::Fetch("no address".into()))?;
    // Every address the name resolves to must be acceptable: a client
    // library may pick any of them.
    for a in &addrs {
        if is_internal(a.ip()) && !allowed.iter().any(|net| net.contains(&a.ip())) {
            return Err(PreviewError::Forbidden);
        }
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(FETCH_TIMEOUT)
        .resolve(&host, addr)
        .user_agent("Missive URL preview")
        .build()
        .map_err(|e| PreviewError::Fetch(e.to_string()))?;
    client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| PreviewError::Fetch(e.to_string()))
}

async fn read_capped(mut response: reqwest::Response) -> Result<String, PreviewError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| PreviewError::Fetch(e.to_string()))?
    {
        let room = MAX_HTML_BYTES.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_HTML_BYTES {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// `og:*` meta tags, with the title and description as fallbacks.
pub fn open_graph(html: &str, base: &reqwest::Url) -> OpenGraph {
    let doc = scraper::Html::parse_document(html);
    let mut og = OpenGraph::new();
    let meta = scraper::Selector::parse("meta").expect("valid selector");
    for el in doc.select(&meta) {
        let key = el
            .value()
            .attr("property")
            .or_else(|| el.value().attr("name"));
        let (Some(key), Some(content)) = (key, el.value().attr("content")) else {
            continue;
        };
        if key.starts_with("og:") && !og.contains_key(key) {
            og.insert(
                key.to_owned(),
                content.chars().take(1000).collect::<String>().into(),
            );
        } else if key == "description" && !og.contains_key("og:description") {
            og.insert(
                "og:description".into(),
                content.chars().take(1000).collect::<String>().into(),
            );
        }
    }
    if !og.contains_key("og:title") {
        let title = scraper::Selector::parse("title").expect("valid selector");
        if let Some(t) = doc.select(&title).next() {
            let text: String = t
                .text()
                .collect::<String>()
                .trim()
                .chars()
                .take(300)
                .collect();
            if !text.is_empty() {
                og.insert("og:title".into(), text.into());
            }
        }
    }
    // Images would have to be fetched and stored as media; until then the
    // preview carries text only.
    og.remove("og:image");
    og.insert(
        "og:url".into(),
        og.get("og:url")
            .cloned()
            .unwrap_or_else(|| base.as_str().into()),
    );
    og
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_graph_tags_are_extracted() {
        let html = r#"<html><head><title>Fallback</title>
            <meta property="og:title" content="Communiqué">
            <meta name="description" content="Le texte">
            <meta property="og:image" content="http://10.0.0.1/x.png"></head></html>"#;
        let og = open_graph(html, &reqwest::Url::parse("https://example.org/a").unwrap());
        assert_eq!(og["og:title"], "Communiqué");
        assert_eq!(og["og:description"], "Le texte");
        assert!(!og.contains_key("og:image"));
        assert_eq!(og["og:url"], "https://example.org/a");
    }

    #[tokio::test]
    async fn loopback_and_odd_schemes_are_refused() {
        assert_eq!(
            preview("http://127.0.0.1:1/", &[]).await,
            Err(PreviewError::Forbidden)
        );
        assert_eq!(
            preview("http://localhost:1/", &[]).await,
            Err(PreviewError::Forbidden)
        );
        assert_eq!(
            preview("file:///etc/passwd", &[]).await,
            Err(PreviewError::Scheme)
        );
        assert_eq!(
            preview("not a url", &[]).await,
            Err(PreviewError::InvalidUrl)
        );
    }
}

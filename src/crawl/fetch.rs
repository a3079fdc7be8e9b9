//! The network side of a crawl: one HTTP client (ureq with rustls) that fetches a page without
//! following redirects (the crawl queues the target as a URL of its own, so a page reached
//! twice is fetched once), robots.txt (texting_robots), sitemaps (quick-xml) and a page's
//! links (the same html5ever parser the import uses).

use std::time::Duration;

use url::Url;

/// The default user agent: Safari on an iPhone (H5 pages are written for phones; many serve
/// a desktop site or nothing to other agents).
pub const MOBILE_USER_AGENT: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) \
     AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

/// The name robots.txt groups are matched against (`User-agent: *` applies as well).
pub const ROBOTS_AGENT: &str = "yuxuan";

/// Why a URL gave no page. The `Display` form is `kind: detail`, what the frontier records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("http: status {0}")]
    Status(u16),
    #[error("timeout: no complete answer within {0:?}")]
    Timeout(Duration),
    #[error("not_html: content type {0}")]
    NotHtml(String),
    #[error("too_big: more than {0} bytes")]
    TooBig(u64),
    #[error("robots: disallowed by robots.txt")]
    Robots,
    #[error("robots: robots.txt unavailable ({0}), the host is not crawled")]
    RobotsUnavailable(String),
    #[error("redirect: {0}")]
    BadRedirect(String),
    #[error("decode: {0}")]
    Decode(String),
    #[error("network: {0}")]
    Network(String),
}

impl FetchError {
    /// The kind (the part before the colon): `http`, `timeout`, `not_html`, `too_big`,
    /// `robots`, `redirect`, `decode`, `network`.
    pub fn kind_of(recorded: &str) -> &str {
        recorded.split(':').next().unwrap_or(recorded)
    }

    pub fn http_status(&self) -> Option<u16> {
        match self {
            FetchError::Status(s) => Some(*s),
            _ => None,
        }
    }
}

/// What a fetch returned.
#[derive(Debug)]
pub enum Fetched {
    /// An HTML page (status 2xx).
    Page {
        status: u16,
        bytes: Vec<u8>,
        content_type: Option<String>,
        charset: Option<String>,
    },
    /// A redirect to `location` (resolved against the URL).
    Redirect { status: u16, location: Url },
}

/// The HTTP client of a crawl.
#[derive(Clone)]
pub struct Client {
    /// Pages: no redirects followed.
    pages: ureq::Agent,
    /// robots.txt and sitemaps: a few redirects followed (`http://` to `https://`).
    files: ureq::Agent,
    timeout: Duration,
    max_bytes: u64,
}

fn agent(user_agent: &str, timeout: Duration, redirects: u32) -> ureq::Agent {
    ureq::Agent::config_builder()
        .user_agent(user_agent)
        .timeout_global(Some(timeout))
        .max_redirects(redirects)
        .http_status_as_error(false)
        .build()
        .into()
}

fn map_err(e: ureq::Error, timeout: Duration, max_bytes: u64) -> FetchError {
    match e {
        ureq::Error::Timeout(_) => FetchError::Timeout(timeout),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            FetchError::Timeout(timeout)
        }
        ureq::Error::BodyExceedsLimit(_) => FetchError::TooBig(max_bytes),
        other => FetchError::Network(other.to_string()),
    }
}

/// Whether a `Content-Type` is an HTML page (a missing one is sniffed by decoding).
fn is_html_type(mime: &str) -> bool {
    matches!(
        mime.trim().to_ascii_lowercase().as_str(),
        "text/html" | "application/xhtml+xml"
    )
}

impl Client {
    pub fn new(user_agent: &str, timeout: Duration, max_bytes: u64) -> Client {
        Client {
            pages: agent(user_agent, timeout, 0),
            files: agent(user_agent, timeout, 5),
            timeout,
            max_bytes,
        }
    }

    /// Fetch a page: a 2xx HTML answer up to the size cap, or a redirect.
    pub fn page(&self, url: &Url) -> Result<Fetched, FetchError> {
        let resp = self
            .pages
            .get(url.as_str())
            .header("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5")
            .call()
            .map_err(|e| map_err(e, self.timeout, self.max_bytes))?;
        let status = resp.status().as_u16();
        if (300..400).contains(&status) {
            let loc = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    FetchError::BadRedirect(format!("status {status} without Location"))
                })?;
            let location = url
                .join(loc)
                .map_err(|e| FetchError::BadRedirect(format!("Location {loc:?}: {e}")))?;
            return Ok(Fetched::Redirect { status, location });
        }
        if !(200..400).contains(&status) {
            return Err(FetchError::Status(status));
        }
        let mut body = resp.into_body();
        let content_type = body.mime_type().map(str::to_string);
        if let Some(ct) = &content_type {
            if !is_html_type(ct) {
                return Err(FetchError::NotHtml(ct.clone()));
            }
        }
        if body.content_length().is_some_and(|n| n > self.max_bytes) {
            return Err(FetchError::TooBig(self.max_bytes));
        }
        let charset = body.charset().map(str::to_string);
        let bytes = body
            .with_config()
            .limit(self.max_bytes)
            .read_to_vec()
            .map_err(|e| map_err(e, self.timeout, self.max_bytes))?;
        Ok(Fetched::Page {
            status,
            bytes,
            content_type,
            charset,
        })
    }

    /// A small file (robots.txt, a sitemap): its status and bytes (up to the size cap).
    pub fn file(&self, url: &Url) -> Result<(u16, Vec<u8>), FetchError> {
        let resp = self
            .files
            .get(url.as_str())
            .call()
            .map_err(|e| map_err(e, self.timeout, self.max_bytes))?;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        let bytes = body
            .with_config()
            .limit(self.max_bytes)
            .read_to_vec()
            .map_err(|e| map_err(e, self.timeout, self.max_bytes))?;
        Ok((status, bytes))
    }

    /// A host's robots.txt rules (RFC 9309: a 4xx means no rules; a 5xx or no answer means
    /// the whole host is off limits).
    pub fn robots(&self, origin: &Url) -> Robots {
        let Ok(url) = origin.join("/robots.txt") else {
            return Robots::AllowAll;
        };
        match self.file(&url) {
            Ok((s, bytes)) if (200..300).contains(&s) => {
                match texting_robots::Robot::new(ROBOTS_AGENT, &bytes) {
                    Ok(r) => Robots::Rules(Box::new(r)),
                    Err(_) => Robots::AllowAll,
                }
            }
            Ok((s, _)) if (400..500).contains(&s) => Robots::AllowAll,
            Ok((s, _)) => Robots::Unavailable(format!("status {s}")),
            Err(e) => Robots::Unavailable(e.to_string()),
        }
    }
}

/// A host's robots.txt, as far as the crawl is concerned.
#[derive(Debug)]
pub enum Robots {
    AllowAll,
    Rules(Box<texting_robots::Robot>),
    /// robots.txt could not be read: nothing on the host is fetched.
    Unavailable(String),
}

impl Robots {
    /// `Ok` when `url` may be fetched.
    pub fn check(&self, url: &Url) -> Result<(), FetchError> {
        match self {
            Robots::AllowAll => Ok(()),
            Robots::Rules(r) if r.allowed(url.as_str()) => Ok(()),
            Robots::Rules(_) => Err(FetchError::Robots),
            Robots::Unavailable(why) => Err(FetchError::RobotsUnavailable(why.clone())),
        }
    }
    /// The `Crawl-delay` it asks for.
    pub fn delay(&self) -> Option<Duration> {
        match self {
            Robots::Rules(r) => r
                .delay
                .filter(|d| d.is_finite() && *d > 0.0)
                .map(|d| Duration::from_secs_f32(d.min(60.0))),
            _ => None,
        }
    }
    /// The sitemaps it lists.
    pub fn sitemaps(&self) -> Vec<String> {
        match self {
            Robots::Rules(r) => r.sitemaps.clone(),
            _ => Vec::new(),
        }
    }
}

/// A URL as the frontier keeps it: http(s) only, without its fragment.
pub fn normalize(mut u: Url) -> Option<Url> {
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return None;
    }
    u.set_fragment(None);
    Some(u)
}

/// The host (and port) a rate limit applies to.
pub fn host_key(u: &Url) -> String {
    format!(
        "{}:{}",
        u.host_str().unwrap_or_default(),
        u.port_or_known_default().unwrap_or(0)
    )
}

/// Files that are never pages, by extension (not worth a request).
fn is_asset_path(u: &Url) -> bool {
    let p = u.path().to_ascii_lowercase();
    const EXT: &[&str] = &[
        ".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".ico", ".bmp", ".css", ".js", ".pdf",
        ".zip", ".rar", ".7z", ".gz", ".apk", ".ipa", ".exe", ".dmg", ".mp3", ".mp4", ".avi",
        ".mov", ".woff", ".woff2", ".ttf", ".doc", ".docx", ".xls", ".xlsx",
    ];
    EXT.iter().any(|e| p.ends_with(e))
}

/// The page's outgoing links (`<a href>`, `<area href>`; `<base href>` honoured; `rel=nofollow`
/// skipped), normalized, in document order, each once.
pub fn links(page: &Url, html: &str) -> Vec<Url> {
    let doc = scraper::Html::parse_document(html);
    let base_sel = scraper::Selector::parse("base[href]").expect("valid selector");
    let base = doc
        .select(&base_sel)
        .next()
        .and_then(|b| b.value().attr("href"))
        .and_then(|h| page.join(h.trim()).ok())
        .unwrap_or_else(|| page.clone());
    let sel = scraper::Selector::parse("a[href], area[href]").expect("valid selector");
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for a in doc.select(&sel) {
        let rel = a.value().attr("rel").unwrap_or_default();
        if rel
            .split_ascii_whitespace()
            .any(|r| r.eq_ignore_ascii_case("nofollow"))
        {
            continue;
        }
        let Some(href) = a.value().attr("href") else {
            continue;
        };
        let Some(u) = base.join(href.trim()).ok().and_then(normalize) else {
            continue;
        };
        if is_asset_path(&u) {
            continue;
        }
        if seen.insert(u.as_str().to_string()) {
            out.push(u);
        }
    }
    out
}

/// The `<loc>` URLs of a sitemap, and whether it is a sitemap index (its URLs are sitemaps).
pub fn sitemap_locs(bytes: &[u8]) -> (Vec<String>, bool) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut index = false;
    let mut in_loc = false;
    let mut cur = String::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => match e.local_name().as_ref() {
                b"sitemapindex" => index = true,
                b"loc" => {
                    in_loc = true;
                    cur.clear();
                }
                _ => {}
            },
            Ok(Event::Text(t)) if in_loc => {
                if let Ok(s) = t.decode() {
                    cur.push_str(&s);
                }
            }
            Ok(Event::CData(t)) if in_loc => {
                if let Ok(s) = t.decode() {
                    cur.push_str(&s);
                }
            }
            Ok(Event::GeneralRef(r)) if in_loc => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    cur.push(c);
                } else {
                    match r.decode().as_deref() {
                        Ok("amp") => cur.push('&'),
                        Ok("lt") => cur.push('<'),
                        Ok("gt") => cur.push('>'),
                        Ok("quot") => cur.push('"'),
                        Ok("apos") => cur.push('\''),
                        _ => {}
                    }
                }
            }
            Ok(Event::End(e)) if e.local_name().as_ref() == b"loc" => {
                in_loc = false;
                let s = cur.trim();
                if !s.is_empty() {
                    out.push(s.to_string());
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
        buf.clear();
    }
    (out, index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_resolved_deduplicated_and_filtered() {
        let page = Url::parse("http://m.example.com/a/index.html").unwrap();
        let html = r#"<html><head><base href="/b/"></head><body>
            <a href="x.html#top">x</a><a href="x.html">again</a>
            <a href="https://other.example/">other</a><a href="mailto:a@b.c">mail</a>
            <a href="/logo.png">img</a><a rel="nofollow" href="/no.html">no</a>
            <area href="/map.html"></body></html>"#;
        let got: Vec<String> = links(&page, html).iter().map(|u| u.to_string()).collect();
        assert_eq!(
            got,
            [
                "http://m.example.com/b/x.html",
                "https://other.example/",
                "http://m.example.com/map.html"
            ]
        );
    }

    #[test]
    fn sitemap_and_index_locs() {
        let (locs, index) = sitemap_locs(
            br#"<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
            <url><loc> http://a.example/p?x=1&amp;y=2 </loc></url><url><loc>http://a.example/q</loc></url></urlset>"#,
        );
        assert_eq!(locs, ["http://a.example/p?x=1&y=2", "http://a.example/q"]);
        assert!(!index);
        let (locs, index) = sitemap_locs(
            b"<sitemapindex><sitemap><loc>http://a.example/s1.xml</loc></sitemap></sitemapindex>",
        );
        assert_eq!(locs, ["http://a.example/s1.xml"]);
        assert!(index);
    }

    #[test]
    fn recorded_errors_carry_their_kind() {
        for (e, kind) in [
            (FetchError::Status(404), "http"),
            (FetchError::Timeout(Duration::from_secs(1)), "timeout"),
            (FetchError::NotHtml("image/png".into()), "not_html"),
            (FetchError::TooBig(5), "too_big"),
            (FetchError::Robots, "robots"),
        ] {
            assert_eq!(FetchError::kind_of(&e.to_string()), kind);
        }
    }
}

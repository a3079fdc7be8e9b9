//! Crawling H5 pages (issue 14): a site served by the test itself on 127.0.0.1 (real
//! Formasaurus pages with links between them, a robots.txt, redirects, a 500, a 404, a slow
//! page, a 20 MB page, a JSON answer, a copy of a page and a GBK page without a charset in its
//! header) is crawled into a form project; the crawl stores exactly the allowed pages, records
//! every failure, fetches nothing twice, and after a kill -9 resumes without refetching.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use yuxuan::crawl::{self, CrawlOptions};
use yuxuan::domain::{sets, ItemKind, NewLabel, TaskKind};
use yuxuan::jobs::JobCtx;
use yuxuan::store::crawl::status;
use yuxuan::store::transfer::FileMode;
use yuxuan::store::Store;

use crate::common;

/// What the server answers on a path.
#[derive(Clone)]
enum Route {
    Html(Arc<Vec<u8>>),
    Typed(&'static str, Arc<Vec<u8>>),
    Redirect(u16, &'static str),
    Status(u16),
    Slow(Duration, Arc<Vec<u8>>),
    Text(&'static str),
}

/// The test site: its base URL, the request log (paths in arrival order), and what the
/// crawl must end with.
pub(crate) struct Site {
    base: String,
    log: Arc<Mutex<Vec<String>>>,
    /// Paths that must become page items.
    pages: BTreeSet<String>,
    /// Expected frontier outcome by path: (status, error kind or redirect target).
    expected: BTreeMap<String, (&'static str, &'static str)>,
    /// The GBK page's title, decoded from the original page.
    gbk_title: String,
    server: Arc<tiny_http::Server>,
}

impl Drop for Site {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

impl Site {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
    /// Requests of anything but robots.txt.
    fn page_requests(&self) -> usize {
        self.requests()
            .iter()
            .filter(|p| p.as_str() != "/robots.txt")
            .count()
    }
}

/// A real page with its own links (and `<base href>`) disabled and `links` added at the end of its body.
fn page_with_links(html: &str, links: &[&str]) -> Vec<u8> {
    let html = html
        .replace("href", "data-x")
        .replace("HREF", "data-x")
        .replace("Href", "data-x");
    let mut extra = String::from("<div class=\"yx-test-links\">");
    for l in links {
        extra.push_str(&format!("<a href=\"{l}\">{l}</a> "));
    }
    extra.push_str("</div>");
    let out = match html.rfind("</body>") {
        Some(i) => format!("{}{extra}{}", &html[..i], &html[i..]),
        None => format!("{html}{extra}"),
    };
    out.into_bytes()
}

fn formasaurus_page(n: usize) -> String {
    let p = yuxuan::assets::formasaurus_dir().join(format!("html/{n}.html"));
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e} (installed by setup)", p.display()))
}

/// Start the site on 127.0.0.1:0; every request is answered on its own thread (the slow page
/// does not hold up the others) and logged.
pub(crate) fn site(slow: Duration) -> Site {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("binding 127.0.0.1:0"));
    let port = server.server_addr().to_ip().expect("an IP address").port();
    let base = format!("http://127.0.0.1:{port}");
    let mut routes: HashMap<String, Route> = HashMap::new();
    let mut pages = BTreeSet::new();
    let mut expected = BTreeMap::new();
    let html = |b: Vec<u8>| Route::Html(Arc::new(b));
    // The home page links to ten pages and to every special case.
    let mut home_links: Vec<String> = (1..=10).map(|i| format!("/p/{i}.html")).collect();
    for s in [
        "/private/secret.html",
        "/old",
        "/moved",
        "/error",
        "/slow.html",
        "/huge.html",
        "/gbk.html",
        "/feed",
        "/missing.html",
        "/copy.html",
        "http://elsewhere.invalid/x.html",
        "/logo.png",
        "#top",
    ] {
        home_links.push(s.to_string());
    }
    let refs: Vec<&str> = home_links.iter().map(String::as_str).collect();
    routes.insert(
        "/".into(),
        html(page_with_links(&formasaurus_page(100), &refs)),
    );
    pages.insert("/".to_string());
    // Depth 1: /p/1..10 link to /p/11..20 (depth 2), which link to a page at depth 3.
    let mut copy_of = Vec::new();
    for i in 1..=20usize {
        let links: Vec<String> = if i <= 10 {
            vec![format!("/p/{}.html", i + 10), "/".into()]
        } else {
            vec!["/deep.html".into()]
        };
        let refs: Vec<&str> = links.iter().map(String::as_str).collect();
        let bytes = page_with_links(&formasaurus_page(100 + i), &refs);
        if i == 5 {
            copy_of = bytes.clone();
        }
        routes.insert(format!("/p/{i}.html"), html(bytes));
        pages.insert(format!("/p/{i}.html"));
    }
    routes.insert(
        "/deep.html".into(),
        html(page_with_links(&formasaurus_page(130), &[])),
    );
    routes.insert(
        "/private/secret.html".into(),
        html(page_with_links(&formasaurus_page(131), &[])),
    );
    routes.insert("/old".into(), Route::Redirect(301, "/p/3.html"));
    routes.insert("/moved".into(), Route::Redirect(302, "/p/new.html"));
    routes.insert(
        "/p/new.html".into(),
        html(page_with_links(&formasaurus_page(132), &[])),
    );
    pages.insert("/p/new.html".to_string());
    routes.insert("/error".into(), Route::Status(500));
    routes.insert(
        "/slow.html".into(),
        Route::Slow(slow, Arc::new(page_with_links(&formasaurus_page(133), &[]))),
    );
    let mut huge = page_with_links(&formasaurus_page(134), &[]);
    while huge.len() < 20 * 1024 * 1024 {
        huge.extend_from_slice(b"<p>filler filler filler filler filler filler filler</p>\n");
    }
    routes.insert("/huge.html".into(), html(huge));
    // A real Chinese page, its charset declaration removed, as GBK bytes.
    let zh = formasaurus_page(716);
    let gbk_title = yuxuan::ingest::html::extract(&zh, Default::default())
        .title
        .expect("the Chinese page has a title");
    let re_meta = zh
        .lines()
        .filter(|l| !l.to_ascii_lowercase().contains("charset"))
        .collect::<Vec<_>>()
        .join("\n");
    let re_meta = String::from_utf8(page_with_links(&re_meta, &[])).unwrap();
    let (gbk, _, bad) = encoding_rs::GBK.encode(&re_meta);
    assert!(!bad, "the Chinese page encodes as GBK");
    routes.insert("/gbk.html".into(), Route::Html(Arc::new(gbk.into_owned())));
    pages.insert("/gbk.html".to_string());
    routes.insert(
        "/feed".into(),
        Route::Typed("application/json", Arc::new(br#"{"items": []}"#.to_vec())),
    );
    routes.insert("/copy.html".into(), html(copy_of));
    routes.insert(
        "/sitemap.xml".into(),
        Route::Typed(
            "application/xml",
            Arc::new(
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                     <urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n\
                     <url><loc>{base}/p/7.html</loc></url>\n\
                     <url><loc>{base}/private/secret.html</loc></url>\n\
                     <url><loc>http://elsewhere.invalid/y.html</loc></url>\n\
                     </urlset>"
                )
                .into_bytes(),
            ),
        ),
    );
    routes.insert(
        "/robots.txt".into(),
        Route::Text("User-agent: *\nDisallow: /private/\n"),
    );
    for p in &pages {
        expected.insert(p.clone(), (status::PAGE, ""));
    }
    for (p, st, what) in [
        ("/private/secret.html", status::ERROR, "robots"),
        ("/old", status::REDIRECT, "/p/3.html"),
        ("/moved", status::REDIRECT, "/p/new.html"),
        ("/error", status::ERROR, "http"),
        ("/slow.html", status::ERROR, "timeout"),
        ("/huge.html", status::ERROR, "too_big"),
        ("/feed", status::ERROR, "not_html"),
        ("/missing.html", status::ERROR, "http"),
        ("/copy.html", status::DUPLICATE, ""),
    ] {
        expected.insert(p.to_string(), (st, what));
    }

    let log = Arc::new(Mutex::new(Vec::new()));
    let (srv, lg, routes) = (server.clone(), log.clone(), Arc::new(routes));
    std::thread::spawn(move || {
        for req in srv.incoming_requests() {
            let (lg, routes) = (lg.clone(), routes.clone());
            std::thread::spawn(move || {
                let path = req.url().to_string();
                lg.lock().unwrap().push(path.clone());
                let header = |k: &str, v: &str| {
                    tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap()
                };
                let r = match routes.get(&path).cloned() {
                    Some(Route::Html(b)) => tiny_http::Response::from_data(b.to_vec())
                        .with_header(header("Content-Type", "text/html")),
                    Some(Route::Typed(t, b)) => tiny_http::Response::from_data(b.to_vec())
                        .with_header(header("Content-Type", t)),
                    Some(Route::Slow(d, b)) => {
                        std::thread::sleep(d);
                        tiny_http::Response::from_data(b.to_vec())
                            .with_header(header("Content-Type", "text/html"))
                    }
                    Some(Route::Redirect(code, to)) => tiny_http::Response::from_data(Vec::new())
                        .with_status_code(code)
                        .with_header(header("Location", to)),
                    Some(Route::Status(code)) => tiny_http::Response::from_data(b"error".to_vec())
                        .with_status_code(code)
                        .with_header(header("Content-Type", "text/html")),
                    Some(Route::Text(t)) => tiny_http::Response::from_data(t.as_bytes().to_vec())
                        .with_header(header("Content-Type", "text/plain")),
                    None => tiny_http::Response::from_data(b"not found".to_vec())
                        .with_status_code(404)
                        .with_header(header("Content-Type", "text/html")),
                };
                let _ = req.respond(r);
            });
        }
    });
    Site {
        base,
        log,
        pages,
        expected,
        gbk_title,
        server,
    }
}

fn form_project(loc: &Path) -> Store {
    let mut store = Store::create(loc, "crawl", TaskKind::Form).unwrap();
    if store.labels(sets::INDUSTRY).unwrap().is_empty() {
        store
            .add_labels(sets::INDUSTRY, &[NewLabel::named("finance")])
            .unwrap();
    }
    store
}

fn options() -> CrawlOptions {
    CrawlOptions {
        depth: 2,
        same_site: true,
        rate: 50.0,
        timeout: Duration::from_secs(1),
        ..Default::default()
    }
}

/// The crawl's outcome by path (status, error kind or redirect target) and the page items'
/// URLs, checked against what the site must give.
fn check_outcome(site: &Site, store: &Store, crawl_id: i64) {
    let frontier = store.crawl_frontier(crawl_id).unwrap();
    let mut got = BTreeMap::new();
    for e in &frontier {
        let path = e.url.strip_prefix(&site.base).unwrap_or(&e.url).to_string();
        let what = match e.status.as_str() {
            status::ERROR => {
                yuxuan::crawl::fetch::FetchError::kind_of(e.error.as_deref().unwrap_or(""))
                    .to_string()
            }
            status::REDIRECT => e
                .final_url
                .as_deref()
                .unwrap_or("")
                .strip_prefix(&site.base)
                .unwrap_or("")
                .to_string(),
            _ => String::new(),
        };
        got.insert(path, (e.status.clone(), what));
    }
    let want: BTreeMap<String, (String, String)> = site
        .expected
        .iter()
        .map(|(p, (s, w))| (p.clone(), (s.to_string(), w.to_string())))
        .collect();
    assert_eq!(got, want, "the frontier's outcome by path");
    let by_path: HashMap<&str, _> = frontier
        .iter()
        .map(|e| (e.url.strip_prefix(&site.base).unwrap_or(&e.url), e))
        .collect();
    assert_eq!(by_path["/error"].http_status, Some(500));
    assert_eq!(by_path["/missing.html"].http_status, Some(404));
    assert_eq!(by_path["/old"].http_status, Some(301));
    for p in &site.pages {
        assert!(
            by_path[p.as_str()].fetched_at.is_some(),
            "{p} has its fetch time"
        );
    }

    let items = store.items_of_kind(ItemKind::Page).unwrap();
    let urls: BTreeSet<String> = items.iter().map(|i| i.source_path.clone()).collect();
    let want: BTreeSet<String> = site.pages.iter().map(|p| site.url(p)).collect();
    assert_eq!(urls, want, "exactly the allowed pages are items, by URL");
    for it in &items {
        assert!(
            it.error.is_none(),
            "{} stored without an error",
            it.source_path
        );
        assert_eq!(it.meta["crawl"]["url"], it.source_path.as_str());
        assert!(it.meta["crawl"]["fetched_at"].is_string());
        assert!(
            store.page_html(it.id).unwrap().is_some(),
            "{} keeps its HTML",
            it.source_path
        );
    }
    let gbk = items
        .iter()
        .find(|i| i.source_path.ends_with("/gbk.html"))
        .unwrap();
    assert_eq!(
        gbk.meta["charset"], "GBK",
        "the GBK page is detected: {}",
        gbk.meta
    );
    assert_eq!(gbk.meta["charset_source"], "detected");
    assert_eq!(gbk.meta["title"], site.gbk_title.as_str());
    let fields: usize = items
        .iter()
        .map(|i| store.children(i.id).unwrap().len())
        .sum();
    assert!(
        fields > 20,
        "the pages' form fields are extracted ({fields})"
    );
}

/// Each path the server saw, with how often.
fn counts(paths: &[String]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for p in paths {
        *m.entry(p.clone()).or_insert(0) += 1;
    }
    m
}

#[test]
fn a_crawl_stores_exactly_the_allowed_pages_and_records_each_failure() {
    common::on_both_backends("crawl", |loc| {
        let site = site(Duration::from_secs(3));
        let mut store = form_project(loc);
        let industry = store.labels(sets::INDUSTRY).unwrap()[0].name.clone();
        let opts = CrawlOptions {
            industry: Some(industry.clone()),
            ..options()
        };
        let ctx = JobCtx::new("crawl");
        let s = crawl::run(&mut store, &[site.url("/")], &opts, &ctx).unwrap();
        eprintln!("{s}");
        assert!(!s.resumed);
        assert_eq!(s.pages, site.pages.len());
        assert_eq!((s.duplicates, s.redirects, s.queued), (1, 2, 0));
        let errors: BTreeMap<&str, usize> =
            s.errors.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            errors,
            BTreeMap::from([
                ("http 404", 1),
                ("http 500", 1),
                ("not_html", 1),
                ("robots", 1),
                ("timeout", 1),
                ("too_big", 1)
            ])
        );
        check_outcome(&site, &store, s.crawl_id);
        // Every page was labelled with the industry by the crawl.
        for it in store.items_of_kind(ItemKind::Page).unwrap() {
            assert_eq!(
                store
                    .current_label(it.id, sets::INDUSTRY)
                    .unwrap()
                    .as_deref(),
                Some(industry.as_str())
            );
        }
        // The server saw every request once; never the disallowed, the too deep, the asset
        // or the other site.
        let seen = counts(&site.requests());
        assert!(seen.values().all(|&n| n == 1), "fetched twice: {seen:?}");
        for never in ["/private/secret.html", "/deep.html", "/logo.png"] {
            assert!(!seen.contains_key(never), "{never} was requested");
        }
        assert_eq!(
            s.requests,
            seen.len() - 1,
            "every request but robots.txt is a page's"
        );
        // Progress ended at the frontier's size.
        let snap = ctx.snapshot();
        assert_eq!(
            (snap.done, snap.total),
            (site.expected.len() as u64, site.expected.len() as u64)
        );

        // The same crawl again: a new crawl, whose pages are all known from the first one.
        let before = site.requests().len();
        let again = crawl::run(&mut store, &[site.url("/")], &opts, &ctx).unwrap();
        assert_ne!(again.crawl_id, s.crawl_id);
        let later = site.requests()[before..].to_vec();
        for p in &later {
            assert!(
                !site.pages.contains(p) && p != "/copy.html",
                "{p} fetched again by a second crawl"
            );
        }
        assert_eq!(
            store.items_of_kind(ItemKind::Page).unwrap().len(),
            site.pages.len()
        );
        // The fetched bytes are kept (no file behind a URL), and a push to a team project
        // carries them with the crawls and their frontiers.
        let it = &store.items_of_kind(ItemKind::Page).unwrap()[0];
        let hash = it.content_hash.clone().unwrap();
        assert!(store.item_file(&hash).unwrap().is_some());
        if !store.is_team() {
            let url = common::pg().url(&common::unique_project("crawl-push"));
            let report = store
                .copy_into(Path::new(&url), FileMode::Bytes, &JobCtx::new("push"))
                .unwrap();
            assert!(
                report.missing_files.is_empty(),
                "{:?}",
                report.missing_files
            );
            let team = Store::open(Path::new(&url)).unwrap();
            assert_eq!(team.crawls().unwrap(), store.crawls().unwrap());
            assert_eq!(
                team.crawl_frontier(s.crawl_id).unwrap(),
                store.crawl_frontier(s.crawl_id).unwrap()
            );
            assert_eq!(
                team.item_file(&hash).unwrap(),
                store.item_file(&hash).unwrap()
            );
        }
    });
}

#[test]
fn a_crawl_killed_with_sigkill_resumes_without_refetching() {
    let site = site(Duration::from_secs(3));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crawl.yuxuan");
    drop(form_project(&path));
    let p = path.to_str().unwrap();
    let seed = site.url("/");
    let args = [
        "crawl",
        p,
        &seed,
        "--same-site",
        "--depth",
        "2",
        "--rate",
        "4",
        "--timeout",
        "1",
    ];
    let mut child = std::process::Command::new(common::bin())
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it right after a URL is settled, once several are and none is in flight (every
    // request the server saw is settled in the project): the host's next request is a
    // rate-limit wait (250 ms from that answer) away.
    let store = Store::open(&path).unwrap();
    let mut last = 0;
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the crawl ended before the kill"
        );
        let settled_requests = store
            .crawls()
            .unwrap()
            .first()
            .map(|c| {
                store
                    .crawl_frontier(c.id)
                    .unwrap()
                    .iter()
                    .filter(|e| {
                        e.status != status::QUEUED
                            && !e.error.as_deref().is_some_and(|x| x.starts_with("robots"))
                    })
                    .count()
            })
            .unwrap_or(0);
        if settled_requests > last
            && settled_requests >= 8
            && settled_requests == site.page_requests()
        {
            break;
        }
        last = settled_requests;
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: signalling the child this test started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    child.wait().unwrap();
    let at_kill = site.page_requests();
    eprintln!("killed after {at_kill} page requests");
    assert!(at_kill < site.expected.len() - 1, "killed mid-crawl");

    let out = common::run(&args);
    let text = common::ok(&out);
    assert!(text.contains("(resumed)"), "{text}");
    let seen = counts(&site.requests());
    let twice: Vec<_> = seen
        .iter()
        .filter(|(p, n)| **n > 1 && p.as_str() != "/robots.txt")
        .collect();
    assert!(twice.is_empty(), "fetched again after the kill: {twice:?}");
    let crawls = store.crawls().unwrap();
    assert_eq!(crawls.len(), 1, "the same crawl resumed");
    assert_eq!(crawls[0].status, "done");
    check_outcome(&site, &store, crawls[0].id);
}

#[test]
fn a_sitemap_adds_its_pages_to_the_seeds() {
    let site = site(Duration::from_secs(3));
    let dir = tempfile::tempdir().unwrap();
    let mut store = form_project(&dir.path().join("sitemap.yuxuan"));
    let opts = CrawlOptions {
        depth: 0,
        sitemap: true,
        ..options()
    };
    let s = crawl::run(&mut store, &[site.url("/")], &opts, &JobCtx::new("crawl")).unwrap();
    let frontier: BTreeMap<String, String> = store
        .crawl_frontier(s.crawl_id)
        .unwrap()
        .into_iter()
        .map(|e| (e.url, e.status))
        .collect();
    // The seed and the listed page are stored; the disallowed one is recorded, never fetched;
    // the other site's is out of scope; depth 0 follows no link.
    assert_eq!(
        frontier,
        BTreeMap::from([
            (site.url("/"), status::PAGE.to_string()),
            (site.url("/p/7.html"), status::PAGE.to_string()),
            (site.url("/private/secret.html"), status::ERROR.to_string()),
        ])
    );
    assert_eq!(
        counts(&site.requests()),
        BTreeMap::from([
            ("/".to_string(), 1),
            ("/p/7.html".to_string(), 1),
            ("/robots.txt".to_string(), 1),
            ("/sitemap.xml".to_string(), 1),
        ])
    );
}

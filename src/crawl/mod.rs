//! Crawl an industry's H5 pages into a form project (`yuxuan crawl`, the Crawl dialog): from
//! seed URLs (and optionally their sitemaps), breadth first to a depth, each page stored by the
//! page import's own extraction (`ingest::pages::page_from_bytes`: charset detection, forms,
//! fields) with its URL as the item's source.
//!
//! The frontier lives in the project (`store::crawl`): a URL is settled (page stored, links
//! queued, outcome recorded) in one transaction, so a crawl killed at any moment resumes from
//! its queued URLs and fetches none of the settled ones again; a URL another crawl fetched is
//! answered from that crawl's row. robots.txt is honoured per host; each host gets one request
//! at a time and at most `rate` per second (or its `Crawl-delay`), a few hosts in parallel.
//! Per-URL failures (HTTP errors, timeouts, not HTML, too big, disallowed) are recorded and the
//! crawl goes on.

pub mod fetch;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use url::Url;

use crate::domain::{sets, Action, NewDecision};
use crate::ingest::html::ExtractOptions;
use crate::ingest::pages::{page_from_bytes, PageRecord};
use crate::jobs::{Cancelled, JobCtx};
use crate::store::crawl::{status, Outcome};
use crate::store::items::Inserted;
use crate::store::Store;
use fetch::{Client, FetchError, Fetched, Robots};

/// The annotator of the industry labels a crawl gives its pages (`--industry`).
pub const CRAWL_ANNOTATOR: &str = "crawl";

/// Options of a crawl.
#[derive(Debug, Clone, PartialEq)]
pub struct CrawlOptions {
    /// Links are followed this many steps from a seed.
    pub depth: u32,
    /// Stop once the crawl has stored this many pages.
    pub max_pages: usize,
    /// Follow links only to the seeds' hosts (a leading `www.` ignored).
    pub same_site: bool,
    /// Requests per second per host.
    pub rate: f64,
    /// Hosts fetched in parallel.
    pub concurrency: usize,
    /// Also start from the URLs the seeds' sitemaps list (robots.txt `Sitemap:` lines, else
    /// `/sitemap.xml`).
    pub sitemap: bool,
    /// Label every stored page with this industry (a label of the `industry` set).
    pub industry: Option<String>,
    pub user_agent: String,
    /// Per request, connect to last byte.
    pub timeout: Duration,
    /// Larger pages are not stored.
    pub max_bytes: u64,
    /// Also extract `<input type=hidden>`.
    pub include_hidden: bool,
}

impl Default for CrawlOptions {
    fn default() -> Self {
        CrawlOptions {
            depth: 2,
            max_pages: 500,
            same_site: false,
            rate: 1.0,
            concurrency: 4,
            sitemap: false,
            industry: None,
            user_agent: fetch::MOBILE_USER_AGENT.to_string(),
            timeout: Duration::from_secs(20),
            max_bytes: 5 * 1024 * 1024,
            include_hidden: false,
        }
    }
}

impl CrawlOptions {
    fn params(&self) -> serde_json::Value {
        serde_json::json!({
            "depth": self.depth,
            "max_pages": self.max_pages,
            "same_site": self.same_site,
            "rate": self.rate,
            "concurrency": self.concurrency,
            "sitemap": self.sitemap,
            "industry": self.industry,
            "user_agent": self.user_agent,
            "timeout_s": self.timeout.as_secs_f64(),
            "max_bytes": self.max_bytes,
            "include_hidden": self.include_hidden,
        })
    }
    fn interval(&self) -> Duration {
        if self.rate > 0.0 && self.rate.is_finite() {
            Duration::from_secs_f64(1.0 / self.rate)
        } else {
            Duration::ZERO
        }
    }
}

/// Errors that stop a crawl before it starts.
#[derive(Debug, thiserror::Error)]
pub enum CrawlError {
    #[error("crawling stores H5 pages: {0} is an image project")]
    NotAFormProject(String),
    #[error("{0:?} is not an http(s) URL")]
    BadSeed(String),
    #[error("no seed URL given")]
    NoSeeds,
    #[error("{0:?} is not a label of the industry set (see `yuxuan stats`)")]
    UnknownIndustry(String),
}

/// What a crawl did: its frontier's outcome (over all its runs) and this run's requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CrawlSummary {
    pub crawl_id: i64,
    /// This run continued an interrupted crawl of the same seeds.
    pub resumed: bool,
    /// Page requests this run made (robots.txt and sitemaps not counted).
    pub requests: usize,
    /// Pages stored as items.
    pub pages: usize,
    /// Fields of the pages stored this run.
    pub fields: usize,
    /// URLs whose content (or URL, in an earlier crawl) was already an item.
    pub duplicates: usize,
    pub redirects: usize,
    /// Errors by kind (`http 404`, `timeout`, `not_html`, `too_big`, `robots`, …).
    pub errors: BTreeMap<String, usize>,
    /// URLs still queued (the page cap was reached, or the crawl was cancelled).
    pub queued: usize,
    /// Pages labelled with `--industry` this run.
    pub labelled: usize,
    pub max_pages_reached: bool,
}

impl std::fmt::Display for CrawlSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let errors: usize = self.errors.values().sum();
        write!(
            f,
            "crawl {}{}: {} pages, {} duplicates, {} redirects, {} errors",
            self.crawl_id,
            if self.resumed { " (resumed)" } else { "" },
            self.pages,
            self.duplicates,
            self.redirects,
            errors
        )?;
        if errors > 0 {
            let parts: Vec<String> = self
                .errors
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            write!(f, " ({})", parts.join(", "))?;
        }
        write!(
            f,
            ", {} still queued; {} requests this run",
            self.queued, self.requests
        )?;
        if self.fields > 0 {
            write!(f, ", {} fields", self.fields)?;
        }
        if self.labelled > 0 {
            write!(f, ", {} pages labelled", self.labelled)?;
        }
        if self.max_pages_reached {
            write!(f, " (page cap reached)")?;
        }
        Ok(())
    }
}

/// Seeds as the frontier keeps them.
pub fn parse_seeds(seeds: &[String]) -> Result<Vec<Url>, CrawlError> {
    if seeds.is_empty() {
        return Err(CrawlError::NoSeeds);
    }
    seeds
        .iter()
        .map(|s| {
            Url::parse(s.trim())
                .ok()
                .and_then(fetch::normalize)
                .ok_or_else(|| CrawlError::BadSeed(s.clone()))
        })
        .collect()
}

fn site_of(u: &Url) -> String {
    let h = u.host_str().unwrap_or_default().to_ascii_lowercase();
    h.strip_prefix("www.").map(str::to_string).unwrap_or(h)
}

/// Which URLs the crawl follows.
struct Scope {
    sites: HashSet<String>,
    same_site: bool,
}

impl Scope {
    fn admits(&self, u: &Url) -> bool {
        !self.same_site || self.sites.contains(&site_of(u))
    }
}

/// Per-host politeness state.
#[derive(Default)]
struct Host {
    robots: Option<Arc<Robots>>,
    busy: bool,
    next_at: Option<Instant>,
}

/// Work for a fetch thread.
struct Task {
    url: Url,
    depth: i64,
    /// The host's robots.txt, when already read (else the thread reads it first).
    robots: Option<Arc<Robots>>,
    interval: Duration,
}

/// What a fetch thread found.
struct Done {
    url: Url,
    depth: i64,
    /// robots.txt, when this task read it.
    robots: Option<Arc<Robots>>,
    /// When the last request started (None: no request was made).
    last_request: Option<Instant>,
    requested: bool,
    fetched_at: String,
    result: Result<Got, FetchError>,
}

enum Got {
    Page {
        status: u16,
        content_type: Option<String>,
        bytes: Vec<u8>,
        record: Box<PageRecord>,
        links: Vec<Url>,
    },
    Redirect {
        status: u16,
        location: Url,
    },
}

fn work(client: &Client, t: Task, xopts: ExtractOptions) -> Done {
    let mut last_request = None;
    let mut read_robots = None;
    let robots = match t.robots {
        Some(r) => r,
        None => {
            last_request = Some(Instant::now());
            let r = Arc::new(client.robots(&t.url));
            read_robots = Some(r.clone());
            r
        }
    };
    let now_s = crate::store::now();
    let done = |result, requested, last_request| Done {
        url: t.url.clone(),
        depth: t.depth,
        robots: read_robots.clone(),
        last_request,
        requested,
        fetched_at: now_s.clone(),
        result,
    };
    if let Err(e) = robots.check(&t.url) {
        return done(Err(e), false, last_request);
    }
    if last_request.is_some() {
        // robots.txt was a request too: the page waits its turn after it.
        std::thread::sleep(t.interval.max(robots.delay().unwrap_or_default()));
    }
    let started = Instant::now();
    let fetched_at = crate::store::now();
    let result = client.page(&t.url).map(|f| match f {
        Fetched::Redirect { status, location } => Got::Redirect { status, location },
        Fetched::Page {
            status,
            bytes,
            content_type,
            charset,
        } => {
            let record = page_from_bytes(
                t.url.as_str(),
                &bytes,
                bytes.len() as u64,
                charset.as_deref(),
                xopts,
            );
            let links = record
                .html
                .as_ref()
                .map(|(_, h)| fetch::links(&t.url, h))
                .unwrap_or_default();
            Got::Page {
                status,
                content_type,
                bytes,
                record: Box::new(record),
                links,
            }
        }
    });
    Done {
        fetched_at,
        ..done(result, true, Some(started))
    }
}

/// Crawl from `seeds` into the form project, resuming the unfinished crawl of the same seeds.
/// Progress: URLs settled / URLs in the frontier. Cancelling stops at the next URL (those in
/// flight are settled first) and leaves the rest queued for a later run.
pub fn run(
    store: &mut Store,
    seeds: &[String],
    opts: &CrawlOptions,
    ctx: &JobCtx,
) -> anyhow::Result<CrawlSummary> {
    let project = store.project()?;
    if project.kind.spec().source != crate::kinds::Source::Pages {
        return Err(CrawlError::NotAFormProject(project.name).into());
    }
    if let Some(ind) = &opts.industry {
        if !store.labels(sets::INDUSTRY)?.iter().any(|l| &l.name == ind) {
            return Err(CrawlError::UnknownIndustry(ind.clone()).into());
        }
    }
    let seed_urls = parse_seeds(seeds)?;
    let seed_strings: Vec<String> = seed_urls.iter().map(|u| u.to_string()).collect();
    let (info, resumed) = store.start_or_resume_crawl(&seed_strings, &opts.params())?;
    let crawl_id = info.id;
    let mut summary = CrawlSummary {
        crawl_id,
        resumed,
        ..Default::default()
    };
    let scope = Scope {
        sites: seed_urls.iter().map(site_of).collect(),
        same_site: opts.same_site,
    };
    let client = Client::new(&opts.user_agent, opts.timeout, opts.max_bytes);
    let xopts = ExtractOptions {
        include_hidden: opts.include_hidden,
    };
    let interval = opts.interval();
    let mut hosts: HashMap<String, Host> = HashMap::new();

    // Pages stored by an earlier run that lost its industry label to the kill.
    if let Some(ind) = &opts.industry {
        summary.labelled += label_pages(store, &store.crawl_page_items(crawl_id)?, ind)?;
    }

    let frontier = store.crawl_frontier(crawl_id)?;
    let mut seen: HashSet<String> = frontier.iter().map(|e| e.url.clone()).collect();
    let mut settled = frontier
        .iter()
        .filter(|e| e.status != status::QUEUED)
        .count() as u64;
    let mut stored = frontier.iter().filter(|e| e.status == status::PAGE).count();
    let mut queue: VecDeque<(String, i64)> = store.crawl_queued(crawl_id)?.into();

    if opts.sitemap && !resumed {
        ctx.set_message("sitemaps");
        let found = sitemap_urls(&client, &seed_urls, &scope, &mut hosts, interval, ctx);
        let new: Vec<(String, i64)> = found
            .into_iter()
            .filter(|u| seen.insert(u.clone()))
            .map(|u| (u, 0))
            .collect();
        store.crawl_enqueue(crawl_id, &new)?;
        queue.extend(new);
    }

    ctx.set_total(settled + queue.len() as u64);
    ctx.set_done(settled);
    ctx.set_message("");

    let (task_tx, task_rx) = crossbeam_channel::unbounded::<Task>();
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<Done>();
    let threads = opts.concurrency.max(1);
    let outcome: anyhow::Result<bool> = std::thread::scope(|s| {
        for i in 0..threads {
            let (rx, tx, client) = (task_rx.clone(), done_tx.clone(), client.clone());
            std::thread::Builder::new()
                .name(format!("crawl-fetch-{i}"))
                .spawn_scoped(s, move || {
                    for t in rx {
                        if tx.send(work(&client, t, xopts)).is_err() {
                            break;
                        }
                    }
                })
                .expect("spawning a fetch thread");
        }
        drop(done_tx);
        let mut in_flight = 0usize;
        let result = (|| -> anyhow::Result<bool> {
            loop {
                let cancelled = ctx.is_cancelled();
                let capped = stored + in_flight >= opts.max_pages;
                // Hand out what may go now: one URL per idle host whose wait is over.
                if !cancelled && !capped {
                    let now = Instant::now();
                    let mut i = 0;
                    while i < queue.len()
                        && in_flight < threads
                        && stored + in_flight < opts.max_pages
                    {
                        let Some(url) = Url::parse(&queue[i].0).ok() else {
                            let (u, _) = queue.remove(i).expect("index in range");
                            let e = FetchError::Network("unparsable URL".into());
                            record_error(store, crawl_id, &u, &e, None, &mut summary)?;
                            settled += 1;
                            ctx.set_done(settled);
                            continue;
                        };
                        let key = fetch::host_key(&url);
                        let h = hosts.entry(key).or_default();
                        if h.busy || h.next_at.is_some_and(|t| t > now) {
                            i += 1;
                            continue;
                        }
                        let (u, depth) = queue.remove(i).expect("index in range");
                        // Answers that need no request.
                        if let Some(known) = store.crawl_known(crawl_id, &u)? {
                            let mut next = Vec::new();
                            if depth < opts.depth as i64 {
                                for l in &known.links {
                                    if let Some(lu) = Url::parse(l).ok().filter(|x| scope.admits(x))
                                    {
                                        if seen.insert(lu.to_string()) {
                                            next.push((lu.to_string(), depth + 1));
                                        }
                                    }
                                }
                            }
                            let (st, final_url) = if known.status == status::REDIRECT {
                                if let Some(t) = known.final_url.as_deref() {
                                    if seen.insert(t.to_string()) {
                                        next.push((t.to_string(), depth));
                                    }
                                }
                                summary.redirects += 1;
                                (status::REDIRECT, known.final_url.as_deref())
                            } else {
                                summary.duplicates += 1;
                                (status::DUPLICATE, Some(u.as_str()))
                            };
                            store.crawl_record(
                                crawl_id,
                                &u,
                                &Outcome {
                                    status: st,
                                    final_url,
                                    item_id: known.item_id,
                                    links: &known.links,
                                    ..Default::default()
                                },
                                None,
                                &next,
                            )?;
                            queue.extend(next);
                            settled += 1;
                            ctx.set_total(settled + (queue.len() + in_flight) as u64);
                            ctx.set_done(settled);
                            continue;
                        }
                        if let Some(Err(e)) = h.robots.as_ref().map(|r| r.check(&url)) {
                            record_error(store, crawl_id, &u, &e, None, &mut summary)?;
                            settled += 1;
                            ctx.set_done(settled);
                            continue;
                        }
                        h.busy = true;
                        task_tx
                            .send(Task {
                                url,
                                depth,
                                robots: h.robots.clone(),
                                interval,
                            })
                            .expect("fetch threads alive");
                        in_flight += 1;
                    }
                }
                if in_flight == 0 {
                    if cancelled || queue.is_empty() || stored >= opts.max_pages {
                        return Ok(cancelled);
                    }
                    // Every queued host is waiting out its rate limit.
                    let now = Instant::now();
                    let wait = hosts
                        .values()
                        .filter_map(|h| h.next_at)
                        .filter(|t| *t > now)
                        .min()
                        .map(|t| t - now)
                        .unwrap_or(Duration::from_millis(10));
                    std::thread::sleep(wait.min(Duration::from_millis(200)));
                    continue;
                }
                let Ok(d) = done_rx.recv_timeout(Duration::from_millis(200)) else {
                    continue;
                };
                in_flight -= 1;
                let h = hosts.entry(fetch::host_key(&d.url)).or_default();
                h.busy = false;
                if let Some(r) = &d.robots {
                    h.robots = Some(r.clone());
                }
                if d.last_request.is_some() {
                    // The wait runs from the answer: a slow host is never asked more often.
                    let wait = interval.max(
                        h.robots
                            .as_ref()
                            .and_then(|r| r.delay())
                            .unwrap_or_default(),
                    );
                    h.next_at = Some(Instant::now() + wait);
                }
                if d.requested {
                    summary.requests += 1;
                }
                let new = settle(store, crawl_id, d, opts, &scope, &mut seen, &mut summary)?;
                if new.1 {
                    stored += 1;
                }
                queue.extend(new.0);
                settled += 1;
                ctx.set_total(settled + (queue.len() + in_flight) as u64);
                ctx.set_done(settled);
            }
        })();
        drop(task_tx);
        // Threads finish their current fetch and stop; their results are dropped with the
        // channel only on an error (the frontier keeps those URLs queued).
        result
    });
    let cancelled = outcome?;

    // The summary over the crawl's whole frontier (earlier runs included).
    let entries = store.crawl_frontier(crawl_id)?;
    summary.pages = 0;
    summary.duplicates = 0;
    summary.redirects = 0;
    summary.queued = 0;
    summary.errors.clear();
    for e in &entries {
        match e.status.as_str() {
            status::PAGE => summary.pages += 1,
            status::DUPLICATE => summary.duplicates += 1,
            status::REDIRECT => summary.redirects += 1,
            status::QUEUED => summary.queued += 1,
            _ => {
                let kind = e
                    .error
                    .as_deref()
                    .map(FetchError::kind_of)
                    .unwrap_or("error");
                let key = match (kind, e.http_status) {
                    ("http", Some(s)) => format!("http {s}"),
                    _ => kind.to_string(),
                };
                *summary.errors.entry(key).or_default() += 1;
            }
        }
    }
    summary.max_pages_reached = summary.pages >= opts.max_pages && summary.queued > 0;
    let json = serde_json::to_value(&summary).unwrap_or_default();
    if cancelled {
        store.finish_crawl(crawl_id, "cancelled", &json)?;
        return Err(Cancelled.into());
    }
    store.finish_crawl(crawl_id, "done", &json)?;
    Ok(summary)
}

fn record_error(
    store: &mut Store,
    crawl: i64,
    url: &str,
    e: &FetchError,
    fetched_at: Option<&str>,
    summary: &mut CrawlSummary,
) -> anyhow::Result<()> {
    let msg = e.to_string();
    store.crawl_record(
        crawl,
        url,
        &Outcome {
            status: status::ERROR,
            http_status: e.http_status().map(i64::from),
            error: Some(&msg),
            fetched_at,
            ..Default::default()
        },
        None,
        &[],
    )?;
    *summary
        .errors
        .entry(FetchError::kind_of(&msg).to_string())
        .or_default() += 1;
    Ok(())
}

/// Record a fetch: store the page and queue its links, or record the redirect or the error.
/// Returns the URLs newly queued and whether a page was stored.
fn settle(
    store: &mut Store,
    crawl: i64,
    d: Done,
    opts: &CrawlOptions,
    scope: &Scope,
    seen: &mut HashSet<String>,
    summary: &mut CrawlSummary,
) -> anyhow::Result<(Vec<(String, i64)>, bool)> {
    let url = d.url.as_str();
    let got = match d.result {
        Err(e) => {
            record_error(store, crawl, url, &e, Some(&d.fetched_at), summary)?;
            return Ok((Vec::new(), false));
        }
        Ok(g) => g,
    };
    match got {
        Got::Redirect {
            status: code,
            location,
        } => {
            let mut next = Vec::new();
            if let Some(t) = fetch::normalize(location.clone()).filter(|t| scope.admits(t)) {
                if seen.insert(t.to_string()) {
                    next.push((t.to_string(), d.depth));
                }
            }
            store.crawl_record(
                crawl,
                url,
                &Outcome {
                    status: status::REDIRECT,
                    final_url: Some(location.as_str()),
                    http_status: Some(code as i64),
                    fetched_at: Some(&d.fetched_at),
                    ..Default::default()
                },
                None,
                &next,
            )?;
            summary.redirects += 1;
            Ok((next, false))
        }
        Got::Page {
            status: code,
            content_type,
            bytes,
            mut record,
            links,
        } => {
            if let Some(err) = record.item.error.clone() {
                let e = FetchError::Decode(err);
                record_error(store, crawl, url, &e, Some(&d.fetched_at), summary)?;
                return Ok((Vec::new(), false));
            }
            if let serde_json::Value::Object(m) = &mut record.item.meta {
                m.insert(
                    "crawl".into(),
                    serde_json::json!({
                        "crawl_id": crawl,
                        "url": url,
                        "fetched_at": d.fetched_at,
                        "http_status": code,
                        "content_type": content_type,
                        "depth": d.depth,
                    }),
                );
            }
            let link_strings: Vec<String> = links.iter().map(|u| u.to_string()).collect();
            let mut next = Vec::new();
            if d.depth < opts.depth as i64 {
                for l in &links {
                    if scope.admits(l) && seen.insert(l.to_string()) {
                        next.push((l.to_string(), d.depth + 1));
                    }
                }
            }
            let ins = store.crawl_record(
                crawl,
                url,
                &Outcome {
                    status: status::PAGE,
                    final_url: Some(url),
                    http_status: Some(code as i64),
                    links: &link_strings,
                    fetched_at: Some(&d.fetched_at),
                    ..Default::default()
                },
                Some(&record.parts(Some(&bytes))),
                &next,
            )?;
            let stored = match ins {
                Some(Inserted::New(id)) => {
                    summary.pages += 1;
                    summary.fields += record.fields.len();
                    if let Some(ind) = &opts.industry {
                        summary.labelled += label_pages(store, &[id], ind)?;
                    }
                    true
                }
                _ => {
                    summary.duplicates += 1;
                    false
                }
            };
            Ok((next, stored))
        }
    }
}

/// Give pages without an industry label the crawl's industry; the number labelled.
fn label_pages(store: &mut Store, pages: &[i64], industry: &str) -> anyhow::Result<usize> {
    let mut ds = Vec::new();
    for &id in pages {
        if store.current_label(id, sets::INDUSTRY)?.is_none() {
            ds.push(NewDecision {
                item_id: id,
                label_set: sets::INDUSTRY.to_string(),
                label: Some(industry.to_string()),
                annotator: CRAWL_ANNOTATOR.to_string(),
                action: Action::Correct,
                ms_spent: 0,
                prediction_id: None,
            });
        }
    }
    Ok(store.record_decisions(&ds)?.len())
}

/// The page URLs the seeds' sitemaps list (robots.txt `Sitemap:` lines, else `/sitemap.xml`;
/// one level of sitemap index followed), in scope. Each host's robots.txt read here is kept.
fn sitemap_urls(
    client: &Client,
    seeds: &[Url],
    scope: &Scope,
    hosts: &mut HashMap<String, Host>,
    interval: Duration,
    ctx: &JobCtx,
) -> Vec<String> {
    const MAX_SITEMAPS: usize = 20;
    let mut out = Vec::new();
    let mut done_hosts = HashSet::new();
    for seed in seeds {
        let key = fetch::host_key(seed);
        if !done_hosts.insert(key.clone()) || ctx.is_cancelled() {
            continue;
        }
        let robots = Arc::new(client.robots(seed));
        let mut maps: VecDeque<String> = robots.sitemaps().into();
        if maps.is_empty() {
            if let Ok(u) = seed.join("/sitemap.xml") {
                maps.push_back(u.to_string());
            }
        }
        let mut n = 0;
        while let Some(m) = maps.pop_front() {
            if n >= MAX_SITEMAPS || ctx.is_cancelled() {
                break;
            }
            n += 1;
            std::thread::sleep(interval);
            let Some(mu) = Url::parse(&m).ok() else {
                continue;
            };
            if robots.check(&mu).is_err() {
                continue;
            }
            let Ok((200..=299, bytes)) = client.file(&mu) else {
                continue;
            };
            let (locs, index) = fetch::sitemap_locs(&bytes);
            if index {
                maps.extend(locs);
                continue;
            }
            for l in locs {
                if let Some(u) = Url::parse(&l)
                    .ok()
                    .and_then(fetch::normalize)
                    .filter(|u| scope.admits(u))
                {
                    out.push(u.to_string());
                }
            }
        }
        let h = hosts.entry(key).or_default();
        h.robots = Some(robots);
        h.next_at = Some(Instant::now() + interval);
    }
    out
}

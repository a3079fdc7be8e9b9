//! Crawls of H5 pages (`crawl::run`): a crawl's seeds and options, and its frontier, one row per
//! URL found, in the order found. The frontier lives here so an interrupted crawl resumes from
//! its queued rows and no URL is fetched twice: a row leaves `queued` in the same transaction
//! that stores its page (and queues the page's links), and a URL another crawl already fetched
//! is answered from that crawl's row (its item, its links) instead of the network.

use super::db::{Exec, Row};
use super::forms::{insert_page_tx, PageParts};
use super::items::Inserted;
use super::{now, Result, Store};

/// Frontier statuses.
pub mod status {
    /// Not fetched yet.
    pub const QUEUED: &str = "queued";
    /// Fetched and stored as a page item.
    pub const PAGE: &str = "page";
    /// Fetched (or known from another crawl): the same content or URL is already an item.
    pub const DUPLICATE: &str = "duplicate";
    /// Answered with a redirect: `final_url` is the target, a row of its own.
    pub const REDIRECT: &str = "redirect";
    /// Not stored: `error` says why (`kind: detail`), `http_status` where there was one.
    pub const ERROR: &str = "error";
}

/// A crawl: its seeds, options and outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct CrawlInfo {
    pub id: i64,
    pub seeds: Vec<String>,
    pub params: serde_json::Value,
    /// `running` (or interrupted), `cancelled` (resumable), `done`.
    pub status: String,
    pub summary: Option<serde_json::Value>,
    pub started_at: String,
    pub finished_at: Option<String>,
}

/// One URL of a crawl's frontier.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FrontierEntry {
    pub seq: i64,
    pub url: String,
    pub depth: i64,
    pub status: String,
    pub final_url: Option<String>,
    pub http_status: Option<i64>,
    pub error: Option<String>,
    pub item_id: Option<i64>,
    pub fetched_at: Option<String>,
}

/// What an earlier crawl learnt about a URL.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownUrl {
    pub status: String,
    pub final_url: Option<String>,
    pub item_id: Option<i64>,
    pub links: Vec<String>,
}

/// The outcome of one frontier row.
#[derive(Debug, Clone, Default)]
pub struct Outcome<'a> {
    /// One of [`status`] (a stored page's `page`/`duplicate` is decided by the insert).
    pub status: &'a str,
    pub final_url: Option<&'a str>,
    pub http_status: Option<i64>,
    pub error: Option<&'a str>,
    pub item_id: Option<i64>,
    pub links: &'a [String],
    pub fetched_at: Option<&'a str>,
}

const CRAWL_COLS: &str =
    "id, seeds_json, params_json, status, summary_json, started_at, finished_at";

fn row_to_crawl(r: &Row) -> Result<CrawlInfo> {
    let seeds: String = r.get(1)?;
    let params: String = r.get(2)?;
    let summary: Option<String> = r.get(4)?;
    Ok(CrawlInfo {
        id: r.get(0)?,
        seeds: serde_json::from_str(&seeds).unwrap_or_default(),
        params: serde_json::from_str(&params).unwrap_or_default(),
        status: r.get(3)?,
        summary: summary.and_then(|s| serde_json::from_str(&s).ok()),
        started_at: r.get(5)?,
        finished_at: r.get(6)?,
    })
}

const ENQUEUE: &str = "INSERT INTO crawl_frontier (crawl_id, seq, url, depth, status)
     VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM crawl_frontier WHERE crawl_id = ?1), ?2, ?3, 'queued')
     ON CONFLICT (crawl_id, url) DO NOTHING";

fn enqueue_tx(tx: &impl Exec, crawl: i64, urls: &[(String, i64)]) -> Result<usize> {
    let mut n = 0;
    for (url, depth) in urls {
        n += tx.execute(ENQUEUE, &[&crawl, url, depth])? as usize;
    }
    Ok(n)
}

impl Store {
    /// The unfinished crawl of exactly these seeds (to resume), else a new crawl with the seeds
    /// queued at depth 0. Returns the crawl and whether it was resumed; a resumed crawl takes
    /// the new options.
    pub fn start_or_resume_crawl(
        &mut self,
        seeds: &[String],
        params: &serde_json::Value,
    ) -> Result<(CrawlInfo, bool)> {
        let seeds_json = serde_json::to_string(seeds).unwrap_or_default();
        let params_json = params.to_string();
        let (id, resumed) = self.write(|tx| {
            let open: Option<i64> = tx.query_opt(
                "SELECT id FROM crawls WHERE seeds_json = ?1 AND finished_at IS NULL ORDER BY id DESC LIMIT 1",
                &[&seeds_json],
                |r| r.get(0),
            )?;
            if let Some(id) = open {
                tx.execute(
                    "UPDATE crawls SET params_json = ?2, status = 'running' WHERE id = ?1",
                    &[&id, &params_json],
                )?;
                return Ok((id, true));
            }
            let id: i64 = tx.one(
                "INSERT INTO crawls (seeds_json, params_json, status, started_at) VALUES (?1, ?2, 'running', ?3) RETURNING id",
                &[&seeds_json, &params_json, &now()],
            )?;
            let rows: Vec<(String, i64)> = seeds.iter().map(|s| (s.clone(), 0)).collect();
            enqueue_tx(tx, id, &rows)?;
            Ok((id, false))
        })?;
        let info = self
            .crawl(id)?
            .ok_or(super::StoreError::NothingTo("resume"))?;
        Ok((info, resumed))
    }

    /// A crawl by id.
    pub fn crawl(&self, id: i64) -> Result<Option<CrawlInfo>> {
        self.db().query_opt(
            &format!("SELECT {CRAWL_COLS} FROM crawls WHERE id = ?1"),
            &[&id],
            row_to_crawl,
        )
    }

    /// All crawls, newest first.
    pub fn crawls(&self) -> Result<Vec<CrawlInfo>> {
        self.db().query(
            &format!("SELECT {CRAWL_COLS} FROM crawls ORDER BY id DESC"),
            &[],
            row_to_crawl,
        )
    }

    /// Queue URLs (with their depth) that the crawl has not seen; the number queued.
    pub fn crawl_enqueue(&mut self, crawl: i64, urls: &[(String, i64)]) -> Result<usize> {
        self.write(|tx| enqueue_tx(tx, crawl, urls))
    }

    /// The crawl's queued URLs with their depth, in the order found.
    pub fn crawl_queued(&self, crawl: i64) -> Result<Vec<(String, i64)>> {
        self.db().query(
            "SELECT url, depth FROM crawl_frontier WHERE crawl_id = ?1 AND status = 'queued' ORDER BY seq",
            &[&crawl],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// The crawl's whole frontier, in the order found.
    pub fn crawl_frontier(&self, crawl: i64) -> Result<Vec<FrontierEntry>> {
        self.db().query(
            "SELECT seq, url, depth, status, final_url, http_status, error, item_id, fetched_at
             FROM crawl_frontier WHERE crawl_id = ?1 ORDER BY seq",
            &[&crawl],
            |r| {
                Ok(FrontierEntry {
                    seq: r.get(0)?,
                    url: r.get(1)?,
                    depth: r.get(2)?,
                    status: r.get(3)?,
                    final_url: r.get(4)?,
                    http_status: r.get(5)?,
                    error: r.get(6)?,
                    item_id: r.get(7)?,
                    fetched_at: r.get(8)?,
                })
            },
        )
    }

    /// Rows of the crawl by status.
    pub fn crawl_counts(&self, crawl: i64) -> Result<Vec<(String, i64)>> {
        self.db().query(
            "SELECT status, COUNT(*) FROM crawl_frontier WHERE crawl_id = ?1 GROUP BY status ORDER BY status",
            &[&crawl],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// What another crawl learnt about `url` (fetched as a page, a duplicate or a redirect),
    /// so it is not fetched again.
    pub fn crawl_known(&self, crawl: i64, url: &str) -> Result<Option<KnownUrl>> {
        self.db().query_opt(
            "SELECT status, final_url, item_id, links_json FROM crawl_frontier
             WHERE url = ?2 AND crawl_id <> ?1 AND status IN ('page', 'duplicate', 'redirect')
             ORDER BY crawl_id LIMIT 1",
            &[&crawl, &url],
            |r| {
                let links: Option<String> = r.get(3)?;
                Ok(KnownUrl {
                    status: r.get(0)?,
                    final_url: r.get(1)?,
                    item_id: r.get(2)?,
                    links: links
                        .and_then(|l| serde_json::from_str(&l).ok())
                        .unwrap_or_default(),
                })
            },
        )
    }

    /// Settle a queued row in one transaction: store its page (when given; `page` or
    /// `duplicate` by its content), record the outcome and queue `enqueue` (links, a redirect's
    /// target). Returns the stored page's insert result.
    pub fn crawl_record(
        &mut self,
        crawl: i64,
        url: &str,
        out: &Outcome<'_>,
        page: Option<&PageParts<'_>>,
        enqueue: &[(String, i64)],
    ) -> Result<Option<Inserted>> {
        let t = now();
        let links =
            (!out.links.is_empty()).then(|| serde_json::to_string(out.links).unwrap_or_default());
        self.write(|tx| {
            let ins = match page {
                Some(p) => Some(insert_page_tx(tx, p, &t, None)?),
                None => None,
            };
            let (st, item) = match ins {
                Some(Inserted::New(id)) => (status::PAGE, Some(id)),
                Some(Inserted::Duplicate(id)) => (status::DUPLICATE, Some(id)),
                None => (out.status, out.item_id),
            };
            let hash = page.and_then(|p| p.page.content_hash.clone());
            tx.execute(
                "UPDATE crawl_frontier SET status = ?3, final_url = ?4, http_status = ?5, error = ?6,
                        item_id = ?7, content_hash = ?8, links_json = ?9, fetched_at = ?10
                 WHERE crawl_id = ?1 AND url = ?2",
                &[
                    &crawl,
                    &url,
                    &st,
                    &out.final_url,
                    &out.http_status,
                    &out.error,
                    &item,
                    &hash,
                    &links,
                    &out.fetched_at,
                ],
            )?;
            enqueue_tx(tx, crawl, enqueue)?;
            Ok(ins)
        })
    }

    /// Page items this crawl stored (its `page` rows), in the order found.
    pub fn crawl_page_items(&self, crawl: i64) -> Result<Vec<i64>> {
        self.db().column(
            "SELECT item_id FROM crawl_frontier WHERE crawl_id = ?1 AND status = 'page' AND item_id IS NOT NULL ORDER BY seq",
            &[&crawl],
        )
    }

    /// Mark a crawl stopped: `cancelled` (resumable) or `done` (finished).
    pub fn finish_crawl(
        &mut self,
        crawl: i64,
        state: &str,
        summary: &serde_json::Value,
    ) -> Result<()> {
        let finished = (state == "done").then(now);
        self.db().execute(
            "UPDATE crawls SET status = ?2, summary_json = ?3, finished_at = ?4 WHERE id = ?1",
            &[&crawl, &state, &summary.to_string(), &finished],
        )?;
        Ok(())
    }
}

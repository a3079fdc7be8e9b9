-- Schema version 6: crawls of H5 pages (`yuxuan crawl`, the Crawl dialog), the same tables on
-- both backends.
--
-- A crawl is its seed URLs and options; its frontier is every URL it found, one row each, in
-- the order found. A row is fetched at most once: its status goes from `queued` to what the
-- fetch gave (`page`: stored as an item; `duplicate`: the same final URL or content is already
-- an item; `redirect`: `final_url` names the target, queued as a row of its own; `error`: the
-- reason in `error`, with the HTTP status where there was one). An interrupted crawl resumes
-- from its `queued` rows. `links_json` keeps a page's outgoing links, so a later crawl that
-- meets a URL another crawl fetched follows its links without fetching it again.
CREATE TABLE crawls (
    id          INTEGER PRIMARY KEY,
    seeds_json  TEXT NOT NULL,
    params_json TEXT NOT NULL,
    status      TEXT NOT NULL,
    summary_json TEXT,
    started_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE crawl_frontier (
    crawl_id     INTEGER NOT NULL REFERENCES crawls(id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    url          TEXT NOT NULL,
    depth        INTEGER NOT NULL,
    status       TEXT NOT NULL,
    final_url    TEXT,
    http_status  INTEGER,
    error        TEXT,
    item_id      INTEGER REFERENCES items(id) ON DELETE SET NULL,
    content_hash TEXT,
    links_json   TEXT,
    fetched_at   TEXT,
    PRIMARY KEY (crawl_id, url)
);
CREATE INDEX crawl_frontier_queue ON crawl_frontier(crawl_id, status, seq);
CREATE INDEX crawl_frontier_url ON crawl_frontier(url);
CREATE INDEX crawl_frontier_final ON crawl_frontier(final_url);

//! `yuxuan crawl`: fetch an industry's H5 pages from seed URLs into a form project. Running the
//! same command again resumes an interrupted crawl (nothing settled is fetched again).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use yuxuan::crawl::{self, CrawlOptions};
use yuxuan::jobs::JobCtx;
use yuxuan::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project file or team project URL (a form project).
    project: PathBuf,
    /// Seed URLs (http or https).
    #[arg(required = true)]
    urls: Vec<String>,
    /// Follow links this many steps from a seed.
    #[arg(long, default_value_t = 2)]
    depth: u32,
    /// Stop once this many pages are stored.
    #[arg(long, default_value_t = 500)]
    max_pages: usize,
    /// Follow links only to the seeds' sites (a leading www. ignored).
    #[arg(long)]
    same_site: bool,
    /// Requests per second per host.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Hosts fetched in parallel.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Also start from the URLs listed in the seeds' sitemaps.
    #[arg(long)]
    sitemap: bool,
    /// Label every stored page with this industry (a label of the industry set).
    #[arg(long)]
    industry: Option<String>,
    /// User agent (default: Safari on an iPhone).
    #[arg(long)]
    user_agent: Option<String>,
    /// Seconds per request, connect to last byte.
    #[arg(long, default_value_t = 20.0)]
    timeout: f64,
    /// Pages larger than this many MB are not stored.
    #[arg(long, default_value_t = 5.0)]
    max_mb: f64,
    /// Also extract hidden inputs.
    #[arg(long)]
    include_hidden: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(a.rate > 0.0, "--rate must be above 0");
    anyhow::ensure!(a.timeout > 0.0, "--timeout must be above 0");
    anyhow::ensure!(a.max_mb > 0.0, "--max-mb must be above 0");
    let opts = CrawlOptions {
        depth: a.depth,
        max_pages: a.max_pages,
        same_site: a.same_site,
        rate: a.rate,
        concurrency: a.concurrency.max(1),
        sitemap: a.sitemap,
        industry: a.industry,
        user_agent: a
            .user_agent
            .unwrap_or_else(|| crawl::fetch::MOBILE_USER_AGENT.to_string()),
        timeout: Duration::from_secs_f64(a.timeout),
        max_bytes: (a.max_mb * 1024.0 * 1024.0) as u64,
        include_hidden: a.include_hidden,
    };
    let mut store = Store::open(&a.project)?;
    let ctx = JobCtx::new("crawl").with_cli_bar();
    let summary = crawl::run(&mut store, &a.urls, &opts, &ctx)?;
    ctx.finish();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{summary}");
    }
    Ok(ExitCode::SUCCESS)
}

//! Where a project lives: a file path (`shop.yuxuan`, one person) or a libpq URL of a team
//! project on a PostgreSQL server (`postgres://USER@HOST:PORT/DB?project=shop`).
//!
//! Every subcommand and the app take either as a project argument; the URL's password comes
//! from the URL, `PGPASSWORD` or `~/.pgpass` (`PGPASSFILE`), as with `psql`; `PGHOST`,
//! `PGPORT`, `PGUSER` fill what the URL leaves out; `sslmode` (default `prefer`) and
//! `sslrootcert` mean what they mean to libpq (`tls.rs`). Each team project is one PostgreSQL schema (`yuxuan_<project>`) in
//! the database, so one server can hold many projects.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::StoreError;

/// A project location.
#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    File(PathBuf),
    Team(TeamUrl),
}

/// A parsed team-project URL.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamUrl {
    /// The URL as given (with its password, if any): what a second connection uses.
    pub raw: String,
    /// The project name (`?project=`).
    pub project: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub dbname: String,
    password: Option<String>,
    /// Other libpq parameters (`sslmode`, `connect_timeout`, `application_name`, …).
    options: Vec<(String, String)>,
    /// TLS use (`sslmode`, default `prefer` as libpq) and the trusted roots (`sslrootcert`).
    pub ssl: super::tls::SslMode,
    pub sslrootcert: Option<PathBuf>,
}

/// Whether a project argument names a team project (a `postgres://` or `postgresql://` URL).
pub fn is_team_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

impl Location {
    /// A path stays a file; a `postgres://` URL becomes a team location (checked here, before
    /// any connection is tried).
    pub fn parse(p: &Path) -> Result<Location, StoreError> {
        let s = p.to_string_lossy();
        if is_team_url(&s) {
            Ok(Location::Team(TeamUrl::parse(&s)?))
        } else {
            Ok(Location::File(p.to_path_buf()))
        }
    }

    /// The folder relative paths of the project are resolved against (project files: their
    /// folder; team projects: this workstation's cache for the project).
    pub fn base_dir(&self) -> PathBuf {
        match self {
            Location::File(p) => p.parent().unwrap_or(Path::new(".")).to_path_buf(),
            Location::Team(u) => crate::assets::cache_dir()
                .join("team")
                .join(safe_component(&format!(
                    "{}_{}_{}",
                    u.host, u.port, u.dbname
                )))
                .join(safe_component(&u.project)),
        }
    }

    /// Where model files are written: `<project file>.models/`, or the team project's cache.
    pub fn models_dir(&self) -> PathBuf {
        match self {
            Location::File(p) => {
                let mut name = p.file_name().map(|s| s.to_os_string()).unwrap_or_default();
                name.push(".models");
                p.with_file_name(name)
            }
            Location::Team(_) => self.base_dir().join("models"),
        }
    }

    /// A recorded path (relative to [`Location::base_dir`] or absolute) on this machine.
    pub fn resolve_source(&self, source: &str) -> PathBuf {
        let p = Path::new(source);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir().join(p)
        }
    }

    /// For messages: the path, or the URL without its password.
    pub fn display(&self) -> String {
        match self {
            Location::File(p) => p.display().to_string(),
            Location::Team(u) => u.display(),
        }
    }
}

/// A string as one safe file-name component.
pub fn safe_component(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn bad(url: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::BadLocation(format!("{}: {why}", redact(url)))
}

/// The URL with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some(rest) = url.split_once("://").map(|x| x.1) else {
        return url.to_string();
    };
    let scheme = &url[..url.len() - rest.len()];
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (auth, tail) = rest.split_at(auth_end);
    match auth.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// The URL without its password (for lists kept on disk). Paths are returned as they are.
pub fn without_password(url: &str) -> String {
    if !is_team_url(url) {
        return url.to_string();
    }
    let redacted = redact(url);
    if redacted == url {
        return url.to_string();
    }
    redacted.replacen(":***@", "@", 1)
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// What marks a staging schema of a push in progress (or interrupted).
pub const STAGING_MARK: &str = "--incoming-";

/// Project names: what a PostgreSQL schema name can be without surprises.
pub fn valid_project_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 50
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
}

const KNOWN_OPTIONS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "connect_timeout",
    "application_name",
    "options",
    "keepalives",
    "keepalives_idle",
    "target_session_attrs",
    "channel_binding",
];

impl TeamUrl {
    pub fn parse(url: &str) -> Result<TeamUrl, StoreError> {
        let rest = url
            .split_once("://")
            .map(|x| x.1)
            .ok_or_else(|| bad(url, "not a postgres:// URL"))?;
        let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, dbname) = main.split_once('/').unwrap_or((main, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((u, p)) => (decode(u), Some(decode(p))),
                None => (decode(u), None),
            },
            None => (String::new(), None),
        };
        if hostport.contains(',') {
            return Err(bad(url, "several hosts are not supported; name one server"));
        }
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            // [::1]:5432
            let (h, after) = h
                .split_once(']')
                .ok_or_else(|| bad(url, "unclosed [ in the host"))?;
            (h.to_string(), after.strip_prefix(':').unwrap_or(""))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (decode(h), p),
                None => (decode(hostport), ""),
            }
        };
        let port: u16 = if port.is_empty() {
            std::env::var("PGPORT")
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(5432)
        } else {
            port.parse()
                .map_err(|_| bad(url, format!("port {port:?} is not a number")))?
        };
        let host = if host.is_empty() {
            std::env::var("PGHOST").unwrap_or_else(|_| "localhost".into())
        } else {
            host
        };
        let user = if user.is_empty() {
            std::env::var("PGUSER")
                .or_else(|_| std::env::var("USER"))
                .unwrap_or_else(|_| "postgres".into())
        } else {
            user
        };
        let dbname = if dbname.is_empty() {
            std::env::var("PGDATABASE").unwrap_or_else(|_| user.clone())
        } else {
            decode(dbname)
        };
        let mut project = None;
        let mut options = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (k, v) = (decode(k), decode(v));
            if k == "project" {
                project = Some(v);
            } else if KNOWN_OPTIONS.contains(&k.as_str()) {
                options.push((k, v));
            } else {
                return Err(bad(url, format!("unknown URL parameter {k:?}")));
            }
        }
        let project = project.ok_or_else(|| {
            bad(
                url,
                "the URL names no project; add ?project=NAME (e.g. postgres://me@server/labels?project=shop)",
            )
        })?;
        if !valid_project_name(&project) {
            return Err(bad(
                url,
                format!(
                    "project name {project:?}: use lowercase letters, digits, '_' or '-', starting with a letter (at most 50)"
                ),
            ));
        }
        let ssl = match options.iter().find(|(k, _)| k == "sslmode") {
            Some((_, mode)) => super::tls::SslMode::parse(mode)
                .ok_or_else(|| bad(url, format!("unknown sslmode {mode:?} (disable, allow, prefer, require, verify-ca, verify-full)")))?,
            None => std::env::var("PGSSLMODE")
                .ok()
                .and_then(|m| super::tls::SslMode::parse(&m))
                .unwrap_or(super::tls::SslMode::Prefer),
        };
        let sslrootcert = options
            .iter()
            .find(|(k, _)| k == "sslrootcert")
            .map(|(_, v)| PathBuf::from(v))
            .or_else(|| std::env::var_os("PGSSLROOTCERT").map(PathBuf::from));
        Ok(TeamUrl {
            raw: url.to_string(),
            ssl,
            sslrootcert,
            project,
            host,
            port,
            user,
            dbname,
            password,
            options,
        })
    }

    /// The URL without its password, for messages and the recent-projects list.
    pub fn display(&self) -> String {
        redact(&self.raw)
    }

    /// The same project as another login (without a password): the URL a member uses.
    pub fn for_user(&self, user: &str) -> String {
        let enc: String = user
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let mut q = vec![format!("project={}", self.project)];
        for (k, v) in &self.options {
            q.push(format!("{k}={v}"));
        }
        format!(
            "postgres://{enc}@{}:{}/{}?{}",
            self.host,
            self.port,
            self.dbname,
            q.join("&")
        )
    }

    /// The PostgreSQL schema holding this project.
    pub fn schema(&self) -> String {
        format!("yuxuan_{}", self.project)
    }

    /// The server, for messages (`host:port/db`).
    pub fn server(&self) -> String {
        format!("{}:{}/{}", self.host, self.port, self.dbname)
    }

    /// Where a push writes before the project is complete (not a name users pick: it cannot
    /// be opened by mistake, and `team list` leaves it out).
    pub fn staging(&self) -> TeamUrl {
        let mut u = self.clone();
        u.project = format!("{}{STAGING_MARK}{}", self.project, std::process::id());
        let base = self.raw.split_once('?').map(|x| x.0).unwrap_or(&self.raw);
        u.raw = format!("{base}?project={}", u.project);
        u
    }

    /// The same server and database, another project.
    pub fn with_project(&self, project: &str) -> Result<TeamUrl, StoreError> {
        let base = self.raw.split_once('?').map(|x| x.0).unwrap_or(&self.raw);
        let mut q = vec![format!("project={project}")];
        for (k, v) in &self.options {
            q.push(format!("{k}={v}"));
        }
        TeamUrl::parse(&format!("{base}?{}", q.join("&")))
    }

    fn password(&self) -> Option<String> {
        if let Some(p) = &self.password {
            return Some(p.clone());
        }
        if let Ok(p) = std::env::var("PGPASSWORD") {
            return Some(p);
        }
        let file = std::env::var_os("PGPASSFILE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pgpass")))?;
        let text = std::fs::read_to_string(file).ok()?;
        pgpass_lookup(&text, &self.host, self.port, &self.dbname, &self.user)
    }

    /// Connection settings for the `postgres` client.
    pub fn config(&self) -> postgres::Config {
        let mut c = postgres::Config::new();
        c.host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name("yuxuan")
            .connect_timeout(Duration::from_secs(5))
            .keepalives_idle(Duration::from_secs(30));
        if let Some(p) = self.password() {
            c.password(p);
        }
        c.ssl_mode(self.ssl.client_mode());
        for (k, v) in &self.options {
            match k.as_str() {
                "connect_timeout" => {
                    if let Ok(s) = v.parse::<u64>() {
                        c.connect_timeout(Duration::from_secs(s.max(1)));
                    }
                }
                "application_name" => {
                    c.application_name(v);
                }
                "options" => {
                    c.options(v);
                }
                _ => {}
            }
        }
        c
    }
}

/// The password of the first matching `~/.pgpass` line (`host:port:db:user:password`, `*`
/// matches anything, `\:` and `\\` escape).
pub fn pgpass_lookup(text: &str, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = Vec::new();
        let mut cur = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                }
                ':' if fields.len() < 4 => fields.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        fields.push(cur);
        if fields.len() != 5 {
            continue;
        }
        let port = port.to_string();
        let want = [host, port.as_str(), db, user];
        if fields[..4]
            .iter()
            .zip(want)
            .all(|(f, w)| f == "*" || f == w || (w == "localhost" && f == "127.0.0.1"))
        {
            return Some(fields[4].clone());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_project_and_defaults() {
        let u = TeamUrl::parse(
            "postgres://ann:s%40cret@db.example:5433/labels?project=shop&sslmode=prefer",
        )
        .unwrap();
        assert_eq!(
            (
                u.user.as_str(),
                u.host.as_str(),
                u.port,
                u.dbname.as_str(),
                u.project.as_str()
            ),
            ("ann", "db.example", 5433, "labels", "shop")
        );
        assert_eq!(u.password.as_deref(), Some("s@cret"));
        assert_eq!(
            u.display(),
            "postgres://ann:***@db.example:5433/labels?project=shop&sslmode=prefer"
        );
        assert_eq!(u.schema(), "yuxuan_shop");
        assert_eq!(
            without_password(&u.raw),
            "postgres://ann@db.example:5433/labels?project=shop&sslmode=prefer"
        );
        assert_eq!(without_password("a/b.yuxuan"), "a/b.yuxuan");
        let v = TeamUrl::parse("postgresql://[::1]/x?project=a-1").unwrap();
        assert_eq!((v.host.as_str(), v.port), ("::1", 5432));
    }

    #[test]
    fn bad_urls_are_refused_with_the_reason() {
        for (url, why) in [
            ("postgres://h/db", "names no project"),
            ("postgres://h/db?project=Shop", "project name"),
            ("postgres://h:x/db?project=s", "not a number"),
            (
                "postgres://h/db?project=s&color=red",
                "unknown URL parameter",
            ),
            (
                "postgres://h/db?project=s&sslmode=sometimes",
                "unknown sslmode",
            ),
            ("postgres://a:pw@h/db", "names no project"),
        ] {
            let e = TeamUrl::parse(url).unwrap_err().to_string();
            assert!(e.contains(why), "{url}: {e}");
            assert!(!e.contains("pw@"), "password leaked: {e}");
        }
    }

    #[test]
    fn pgpass_matches_like_libpq() {
        let text = "# comment\nother:5432:*:ann:no\n*:5432:labels:ann:pa\\:ss\n";
        assert_eq!(
            pgpass_lookup(text, "db", 5432, "labels", "ann").as_deref(),
            Some("pa:ss")
        );
        assert_eq!(pgpass_lookup(text, "db", 5433, "labels", "ann"), None);
    }
}

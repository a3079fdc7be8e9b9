//! A throwaway PostgreSQL cluster on 127.0.0.1 for tests, benchmarks and demos: `initdb` in a
//! temporary folder (as the unprivileged `postgres` user when run as root, since PostgreSQL
//! refuses to run as root), a free port, password logins over TCP, stopped and removed when
//! dropped. Uses Debian's `postgresql` package (`/usr/lib/postgresql/N/bin`) or `pg_config`'s.
//! No running system service is assumed or touched.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The superuser's password in a throwaway cluster.
pub const PASSWORD: &str = "yuxuan-test";

/// A running throwaway cluster.
pub struct PgServer {
    pub port: u16,
    dir: PathBuf,
    bindir: PathBuf,
    as_postgres: bool,
    /// Whether the server syncs its WAL to disk (off for tests: faster, same semantics).
    fsync: bool,
    /// TLS only (a self-signed certificate for localhost/127.0.0.1): `cert_path()`.
    tls: bool,
}

/// Why a cluster could not be started (the tests fail with this reason, never skip).
#[derive(Debug, thiserror::Error)]
#[error("cannot start a throwaway PostgreSQL server: {0}")]
pub struct PgServerError(pub String);

fn err(s: impl Into<String>) -> PgServerError {
    PgServerError(s.into())
}

/// The folder with `initdb`, `pg_ctl` and `postgres`.
pub fn find_bindir() -> Result<PathBuf, PgServerError> {
    if let Some(d) = std::env::var_os("YUXUAN_PG_BINDIR") {
        return Ok(PathBuf::from(d));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    if let Some((_, b)) = found.pop() {
        return Ok(b);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let b = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if b.join("initdb").exists() {
            return Ok(b);
        }
    }
    Err(err(
        "no PostgreSQL server binaries (initdb) found: install Debian's `postgresql` package \
         (scripts/setup.sh does) or set YUXUAN_PG_BINDIR",
    ))
}

fn free_port() -> Result<u16, PgServerError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| err(format!("no free port: {e}")))?;
    Ok(l.local_addr().map_err(|e| err(e.to_string()))?.port())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

impl PgServer {
    /// initdb + start on a free port, fsync off (tests); waits until it accepts connections.
    pub fn start() -> Result<PgServer, PgServerError> {
        PgServer::start_with(false)
    }

    /// The same with the server's default durability (fsync on): for benchmarks.
    pub fn start_durable() -> Result<PgServer, PgServerError> {
        PgServer::start_with(true)
    }

    /// A server that accepts TLS connections only (self-signed certificate for `localhost`
    /// and 127.0.0.1, made with the `openssl` command): for the sslmode tests.
    pub fn start_tls_only() -> Result<PgServer, PgServerError> {
        PgServer::start_opts(false, true)
    }

    fn start_with(fsync: bool) -> Result<PgServer, PgServerError> {
        PgServer::start_opts(fsync, false)
    }

    fn start_opts(fsync: bool, tls: bool) -> Result<PgServer, PgServerError> {
        let bindir = find_bindir()?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("yuxuan-pg-")
            .tempdir()
            .map_err(|e| err(format!("temp dir: {e}")))?
            .keep();
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                return Err(err(
                    "running as root needs the `postgres` system user (Debian's postgresql package creates it)",
                ));
            }
        }
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, PASSWORD).map_err(|e| err(e.to_string()))?;
        if as_postgres {
            let _ = Command::new("chown")
                .arg("postgres:postgres")
                .arg(&pwfile)
                .status();
        }
        let server = PgServer {
            port: free_port()?,
            dir,
            bindir,
            as_postgres,
            fsync,
            tls,
        };
        let data = server.data_dir();
        let out = server
            .cmd("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .map_err(|e| err(format!("running initdb: {e}")))?;
        if !out.status.success() {
            return Err(err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        if tls {
            server.make_certificate()?;
        }
        server.start_again()?;
        Ok(server)
    }

    /// The certificate authority that signed the server's certificate (PEM), for
    /// `sslrootcert=`.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    fn make_certificate(&self) -> Result<(), PgServerError> {
        let d = &self.dir;
        let (crt, key) = (d.join("server.crt"), d.join("server.key"));
        let ext = d.join("server.ext");
        std::fs::write(
            &ext,
            "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .map_err(|e| err(e.to_string()))?;
        let run = |args: &[&str]| -> Result<(), PgServerError> {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .map_err(|e| err(format!("running openssl: {e}")))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(err(format!(
                    "openssl {} failed: {}",
                    args[0],
                    String::from_utf8_lossy(&out.stderr).trim()
                )))
            }
        };
        make_ca(d, "yuxuan test CA")?;
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ])?;
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ])?;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600));
        if self.as_postgres {
            let _ = Command::new("chown")
                .arg("postgres:postgres")
                .arg(&key)
                .arg(&crt)
                .status();
        }
        // TLS only: plain TCP connections are refused by the server.
        let hba = "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all 0.0.0.0/0 reject\n";
        std::fs::write(self.data_dir().join("pg_hba.conf"), hba).map_err(|e| err(e.to_string()))?;
        Ok(())
    }

    fn cmd(&self, tool: &str) -> Command {
        let exe = self.bindir.join(tool);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        c.stdin(Stdio::null());
        c
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The cluster's folder (data and log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Start the (stopped) server again on the same port.
    pub fn start_again(&self) -> Result<(), PgServerError> {
        let mut opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync={} -c max_connections=200 -c shared_buffers=64MB",
            self.port,
            self.dir.display(),
            if self.fsync { "on" } else { "off" }
        );
        if self.tls {
            opts.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                self.dir.join("server.crt").display(),
                self.dir.join("server.key").display()
            ));
        }
        let out = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-o", &opts, "-w", "-t", "60", "start"])
            .output()
            .map_err(|e| err(format!("running pg_ctl: {e}")))?;
        if !out.status.success() {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            return Err(err(format!(
                "pg_ctl start failed: {} {}",
                String::from_utf8_lossy(&out.stderr).trim(),
                log.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
            )));
        }
        // Accepting TCP connections?
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if t.elapsed() > Duration::from_secs(30) {
                return Err(err("the server did not open its port in 30 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Stop the server (`fast`: disconnect clients, clean shutdown; `immediate`: like a crash).
    pub fn stop(&self, mode: &str) {
        let _ = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", mode, "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Restart: every client's connection breaks; the data stays.
    pub fn restart(&self) -> Result<(), PgServerError> {
        self.stop("fast");
        self.start_again()
    }

    /// A URL of a team project on this server (the superuser, password in the URL).
    pub fn url(&self, project: &str) -> String {
        format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/postgres?project={project}",
            self.port
        )
    }

    /// The same without a password (for PGPASSWORD / ~/.pgpass tests).
    pub fn url_without_password(&self, project: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?project={project}",
            self.port
        )
    }

    /// The server's version string.
    pub fn version(&self) -> Option<String> {
        let mut c = self.admin().ok()?;
        c.query_one("SHOW server_version", &[])
            .ok()
            .map(|r| r.get(0))
    }

    /// A superuser connection to the `postgres` database.
    pub fn admin(&self) -> Result<postgres::Client, postgres::Error> {
        postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .password(PASSWORD)
            .dbname("postgres")
            .connect(postgres::NoTls)
    }
}

/// A self-signed certificate authority in `dir` (`ca.key`, `ca.crt`, made with the `openssl`
/// command); returns the certificate's path.
pub fn make_ca(dir: &Path, name: &str) -> Result<PathBuf, PgServerError> {
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .arg("-subj")
        .arg(format!("/CN={name}"))
        .args(["-keyout", "ca.key", "-out", "ca.crt"])
        .current_dir(dir)
        .output()
        .map_err(|e| err(format!("running openssl: {e}")))?;
    if !out.status.success() {
        return Err(err(format!(
            "openssl req failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(dir.join("ca.crt"))
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop("immediate");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

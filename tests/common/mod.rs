//! Helpers shared by the integration tests: temp projects, running the binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use yuxuan::domain::{sets, ItemKind, NewItem, NewLabel, TaskKind};
use yuxuan::store::Store;

/// Path of the built `yuxuan` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_yuxuan"))
}

/// Run the binary with args; returns the output (does not assert success).
pub fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("running yuxuan")
}

/// The throwaway PostgreSQL server of this test binary, started on first use and stopped at
/// exit. A server that cannot start fails the test with the reason (never a skip).
pub fn pg() -> &'static yuxuan::pgserver::PgServer {
    static SERVER: std::sync::OnceLock<yuxuan::pgserver::PgServer> = std::sync::OnceLock::new();
    SERVER.get_or_init(|| {
        let s = yuxuan::pgserver::PgServer::start().unwrap_or_else(|e| panic!("{e}"));
        extern "C" fn stop_at_exit() {
            if let Some(s) = SERVER.get() {
                s.stop("immediate");
                let _ = std::fs::remove_dir_all(s.dir());
            }
        }
        // SAFETY: registering a plain extern "C" function; statics are not dropped at exit.
        unsafe { libc::atexit(stop_at_exit) };
        s
    })
}

/// A project name no other test uses (team projects of one server share a database).
pub fn unique_project(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}-{}-{}",
        prefix.replace('_', "-"),
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Where a generic test body creates its project: a file in a temp dir, or a team project on
/// the test server.
pub enum Backend {
    File,
    Team,
}

/// A fresh project location of `backend` (the temp dir, if any, lives as long as the guard).
pub fn location(backend: &Backend, name: &str) -> (PathBuf, Option<tempfile::TempDir>) {
    match backend {
        Backend::File => {
            let dir = tempfile::tempdir().unwrap();
            (dir.path().join(format!("{name}.yuxuan")), Some(dir))
        }
        Backend::Team => (PathBuf::from(pg().url(&unique_project(name))), None),
    }
}

/// Run one behaviour test body against both backends: a project file and a team project.
pub fn on_both_backends(name: &str, body: impl Fn(&Path)) {
    for backend in [Backend::File, Backend::Team] {
        let (loc, _guard) = location(&backend, name);
        body(&loc);
    }
}

/// A fresh image project with `labels` and `n` synthetic items (no files behind them).
pub fn image_project(dir: &Path, labels: &[&str], n: usize) -> (PathBuf, Store) {
    let path = dir.join("test.yuxuan");
    let store = image_project_at(&path, labels, n);
    (path, store)
}

/// The same at a given location (a file path or a team URL).
pub fn image_project_at(path: &Path, labels: &[&str], n: usize) -> Store {
    project_with_items(path, "test", labels, n, |i| {
        (format!("img/{i:06}.png"), format!("hash{i}"))
    })
}

/// An image project at `path` with `labels` and `n` items (paths only, no files); `item(i)`
/// gives the i-th item's source path and content hash.
fn project_with_items(
    path: &Path,
    name: &str,
    labels: &[&str],
    n: usize,
    item: impl Fn(usize) -> (String, String),
) -> Store {
    let mut store = Store::create(path, name, TaskKind::Image).unwrap();
    store
        .add_labels(
            sets::CLASS,
            &labels
                .iter()
                .map(|l| NewLabel::named(*l))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let items: Vec<NewItem> = (0..n)
        .map(|i| {
            let (src, hash) = item(i);
            let mut it = NewItem::new(ItemKind::Image, src);
            it.content_hash = Some(hash);
            it
        })
        .collect();
    store.insert_items(&items).unwrap();
    store
}

/// Emoji PNGs of the installed data, `per` per category for `categories`, with their category.
pub fn emoji(categories: &[&str], per: usize) -> Vec<(PathBuf, String)> {
    let dir = yuxuan::assets::emoji_dir();
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("emoji.json"))
            .expect("emoji data installed (make setup)"),
    )
    .unwrap();
    let mut out = Vec::new();
    let mut count: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for e in json.as_array().unwrap() {
        let cat = e["category"].as_str().unwrap_or_default().to_string();
        if !categories.contains(&cat.as_str()) {
            continue;
        }
        let p = dir
            .join("img64")
            .join(e["image"].as_str().unwrap_or_default());
        let c = count.entry(cat.clone()).or_default();
        if *c < per && p.is_file() {
            *c += 1;
            out.push((p, cat));
        }
    }
    out
}

/// Four emoji categories the image tests use (30+ images each in the installed set).
pub const EMOJI_CATS: [&str; 4] = [
    "Smileys & Emotion",
    "Animals & Nature",
    "Food & Drink",
    "Flags",
];

/// A new image project at `path` made as a user does (`yuxuan new --backbone`, then `yuxuan
/// import` of `per` real emoji of each of [`EMOJI_CATS`]); returns the images with their
/// category.
pub fn cli_emoji_project(path: &Path, per: usize, backbone: &str) -> Vec<(PathBuf, String)> {
    let pics = emoji(&EMOJI_CATS, per);
    assert_eq!(pics.len(), per * EMOJI_CATS.len());
    let p = path.to_str().unwrap();
    ok(&run(&["new", p, "--kind", "image", "--backbone", backbone]));
    let files: Vec<String> = pics.iter().map(|(f, _)| f.display().to_string()).collect();
    let mut args = vec!["import", p];
    args.extend(files.iter().map(String::as_str));
    ok(&run(&args));
    pics
}

/// Run the binary with `input` on its stdin.
pub fn run_with_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(bin())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run yuxuan");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().expect("wait for yuxuan")
}

/// The output of a command that must succeed (its stdout), or a panic with both streams.
pub fn ok(out: &std::process::Output) -> String {
    let so = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "stdout: {so}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    so
}

/// A project (file or team URL) with `n` synthetic image items (paths only, no files) and
/// short leases, their truth as a CSV (path,label).
pub fn synthetic_project(url: &str, labels: &[&str], n: usize, dir: &Path) -> PathBuf {
    let store = project_with_items(Path::new(url), "load", labels, n, |i| {
        (format!("/data/load/{i:06}.png"), format!("load{i}"))
    });
    store
        .set_setting("lease_minutes", serde_json::json!(0.05))
        .unwrap();
    let truth = dir.join("truth.csv");
    let mut w = String::from("path,label\n");
    for i in 0..n {
        w.push_str(&format!(
            "/data/load/{i:06}.png,{}\n",
            labels[i % labels.len()]
        ));
    }
    std::fs::write(&truth, w).unwrap();
    truth
}

/// A big-endian EXIF (TIFF) chunk with one entry: Orientation `o` (6 = rotate 90 degrees
/// clockwise), for `JpegEncoder::set_exif_metadata`.
pub fn exif_orientation(o: u16) -> Vec<u8> {
    let mut exif = b"MM\0\x2a\0\0\0\x08".to_vec();
    exif.extend_from_slice(&[0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    exif.extend_from_slice(&o.to_be_bytes());
    exif.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    exif
}

/// `yuxuan team add-member URL NAME --role annotator`: the member's own project URL (with the
/// password the command printed).
pub fn add_annotator(url: &str, name: &str) -> String {
    let out = ok(&run(&[
        "team",
        "add-member",
        url,
        name,
        "--role",
        "annotator",
    ]));
    let password = out
        .lines()
        .find_map(|l| l.strip_prefix("their password: "))
        .expect("a password is printed")
        .trim()
        .to_string();
    url.replacen("postgres:yuxuan-test@", &format!("{name}:{password}@"), 1)
}

//! Fault tolerance: a training job killed mid-epoch, bad input corpora (images and H5 pages)
//! generated here. (kill -9 of a decision writer, two writers, full disk and read-only files
//! are in `store.rs`.) Every test is bounded: children are killed, loops are capped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use yuxuan::bench::head::EmbeddingHeadFamily;
use yuxuan::bench::synth::{build_image_project, SynthSpec, SYNTH_BACKBONE};
use yuxuan::domain::{ItemKind, RunStatus, TaskKind};
use yuxuan::jobs::JobCtx;
use yuxuan::ml::family::{self, ModelFamily};
use yuxuan::store::Store;

use crate::common;

/// Kills the child when dropped (a failing assertion never leaves a process behind).
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sigkill(child: &mut Child) {
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
    child.wait().unwrap();
}

/// Read `progress DONE/TOTAL` lines until DONE >= `at`; panics after `limit`.
fn wait_for_progress(out: &mut impl BufRead, at: u64, limit: Duration) -> (u64, u64) {
    let start = Instant::now();
    let mut line = String::new();
    loop {
        assert!(
            start.elapsed() < limit,
            "no progress to {at} within {limit:?}"
        );
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "trainer ended before batch {at}"
        );
        if let Some(p) = line.trim().strip_prefix("progress ") {
            let (d, t) = p.split_once('/').unwrap();
            let (d, t): (u64, u64) = (d.parse().unwrap(), t.parse().unwrap());
            if d >= at && t > 0 {
                return (d, t);
            }
        }
    }
}

fn train_cmd(path: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(common::bin());
    c.args(["debug-train", path.to_str().unwrap(), "--device", "cpu"])
        .args(extra);
    c.env("YUXUAN_DEVICE", "cpu");
    c
}

/// A training job killed with SIGKILL mid-epoch: the active model row and its weights file are
/// unchanged and usable, no version was registered, no stray file is left, and after reopening
/// the killed run shows as failed ("interrupted"). While the job was alive, opening the project
/// from another process did not mark its run failed.
#[test]
fn training_killed_mid_epoch_leaves_the_active_model_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.yuxuan");
    let spec = SynthSpec {
        items: 160,
        labels: 3,
        labelled: 1.0,
        predictions: false,
        embedding_dim: 16,
        seed: 5,
        ..Default::default()
    };
    drop(build_image_project(&path, &spec).unwrap());

    // A first model, trained to completion and activated.
    let out = train_cmd(&path, &["--epochs", "3", "--activate", "always"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = Store::open(&path).unwrap();
    let active = store
        .active_model("class")
        .unwrap()
        .expect("an active model");
    let weights = family::weights_path(&store, &active).unwrap();
    let bytes = std::fs::read(&weights).unwrap();
    assert_eq!(
        yuxuan::assets::file_checksum(&weights).unwrap(),
        active.weights_sha256.clone().unwrap()
    );
    let models_dir = family::models_dir(&store);
    let files_before = list(&models_dir);
    drop(store);

    // A second run, slowed down, killed in the middle of its second epoch.
    let mut child = Reaper(
        train_cmd(
            &path,
            &[
                "--epochs",
                "40",
                "--batch-delay-ms",
                "15",
                "--activate",
                "always",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let mut reader = BufReader::new(child.0.stdout.take().unwrap());
    let per_epoch = 128u64.div_ceil(16); // 80% of 160 items, batch 16
    let (done, total) = wait_for_progress(
        &mut reader,
        per_epoch + per_epoch / 2,
        Duration::from_secs(60),
    );
    assert!(done < total, "the job must still be training");

    // Opening the project while the trainer is alive leaves its run alone.
    let store = Store::open(&path).unwrap();
    let live = store.training_runs().unwrap().into_iter().last().unwrap();
    assert_eq!(
        live.status,
        RunStatus::Running,
        "a live run was marked failed by another process's open"
    );
    drop(store);

    sigkill(&mut child.0);

    let store = Store::open(&path).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let runs = store.training_runs().unwrap();
    assert_eq!(runs.len(), 2);
    let killed = &runs[1];
    assert_eq!(killed.status, RunStatus::Failed);
    assert!(
        killed
            .error
            .as_deref()
            .unwrap_or("")
            .contains("interrupted"),
        "{killed:?}"
    );
    assert!(
        killed.progress > 0.0,
        "the killed run had reported progress"
    );
    assert_eq!(runs[0].status, RunStatus::Succeeded);

    let now_active = store
        .active_model("class")
        .unwrap()
        .expect("still an active model");
    assert_eq!(now_active.id, active.id);
    assert_eq!(
        store.models("class").unwrap().len(),
        1,
        "no version registered by the killed run"
    );
    assert_eq!(
        std::fs::read(&weights).unwrap(),
        bytes,
        "weights file changed"
    );
    assert_eq!(
        list(&models_dir),
        files_before,
        "stray files in {}",
        models_dir.display()
    );

    // And the active model still works: it pre-labels every item.
    let fam = EmbeddingHeadFamily::new(SYNTH_BACKBONE, tch::Device::Cpu);
    let items = fam.candidate_items(&store).unwrap();
    let probs = fam
        .predict(&store, &now_active, &items, &JobCtx::new("check"))
        .unwrap();
    assert_eq!(probs.len(), 160);
    assert!(probs
        .iter()
        .all(|p| (p.iter().sum::<f32>() - 1.0).abs() < 1e-3));
    drop(store);
    let mut store = Store::open(&path).unwrap();
    let n = yuxuan::ml::project::prelabel_with(&mut store, &fam, None, &JobCtx::new("prelabel"))
        .unwrap();
    assert_eq!(n, 160);
    assert_eq!(
        store
            .item_counts(ItemKind::Image, "class")
            .unwrap()
            .predicted,
        160
    );
}

fn list(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// A run left `running` by a process that no longer exists (or with no owner recorded) is
/// marked interrupted on open; runs that finished are not touched.
#[test]
fn stale_runs_are_marked_interrupted_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store) = common::image_project(dir.path(), &["a", "b"], 2);
    let mut child = Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let dead = store
        .start_training_run(
            "class",
            &serde_json::json!({"owner": {"host": host, "pid": dead_pid, "start": 1}}),
        )
        .unwrap();
    let ownerless = store
        .start_training_run("class", &serde_json::json!({}))
        .unwrap();
    let elsewhere = store
        .start_training_run(
            "class",
            &serde_json::json!({"owner": {"host": "other.invalid", "pid": 1, "start": 1}}),
        )
        .unwrap();
    let done = store
        .start_training_run("class", &serde_json::json!({}))
        .unwrap();
    store
        .finish_training_run(done, RunStatus::Succeeded, None, None)
        .unwrap();
    drop(store);
    let store = Store::open(&path).unwrap();
    let status = |id| store.training_run(id).unwrap().unwrap().status;
    assert_eq!(status(dead), RunStatus::Failed);
    assert_eq!(status(ownerless), RunStatus::Failed);
    assert_eq!(
        status(elsewhere),
        RunStatus::Running,
        "a run of another host cannot be judged"
    );
    assert_eq!(status(done), RunStatus::Succeeded);
    assert!(store
        .training_run(dead)
        .unwrap()
        .unwrap()
        .error
        .unwrap()
        .contains("interrupted"));
}

// ---------------------------------------------------------------------------------------------
// Bad input corpora. The generators write real files; the importers must turn each bad file
// into an item with an error and import the rest.

/// What a file of a corpus must become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Imported, no error.
    Ok,
    /// An item with an error (the import goes on).
    ItemError,
    /// Either fine or a per-item error, but bounded: no crash, no hang (e.g. capped input).
    OkOrError,
}

/// CRC-32 (IEEE), for writing PNG chunks by hand.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend(data);
    out.extend(&body);
    out.extend(crc32(&body).to_be_bytes());
}

/// A valid PNG header claiming `w` x `h` pixels with a tiny (invalid) body: a decoder that
/// allocates from the header alone would need w*h*3 bytes.
fn bomb_png(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    png_chunk(&mut out, b"IEND", &[]);
    out
}

fn encode(img: &image::RgbImage, fmt: image::ImageFormat) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, fmt).unwrap();
    buf.into_inner()
}

fn picture(seed: u8, w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x as u8).wrapping_mul(seed), y as u8, seed])
    })
}

/// Write the bad-image corpus (and a few good images) into `dir`.
pub fn write_image_corpus(dir: &Path) -> Vec<(PathBuf, Expect)> {
    std::fs::create_dir_all(dir).unwrap();
    let png = encode(&picture(3, 64, 48), image::ImageFormat::Png);
    let jpg = encode(&picture(5, 64, 48), image::ImageFormat::Jpeg);
    let files: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "good1.png",
            encode(&picture(7, 32, 32), image::ImageFormat::Png),
            Expect::Ok,
        ),
        ("good2.jpg", jpg.clone(), Expect::Ok),
        ("good3.png", png.clone(), Expect::Ok),
        ("zero.png", vec![], Expect::ItemError),
        (
            "truncated.png",
            png[..png.len() / 2].to_vec(),
            Expect::ItemError,
        ),
        (
            "truncated.jpg",
            jpg[..jpg.len() / 3].to_vec(),
            Expect::ItemError,
        ),
        ("header-only.png", png[..8].to_vec(), Expect::ItemError),
        ("bomb.png", bomb_png(100_000, 100_000), Expect::ItemError),
        ("wide.png", bomb_png(4_000_000, 1), Expect::ItemError),
        // Wrong extensions: fine images under the wrong name; imported (by content) or a per-item
        // error, as the issue allows.
        (
            "really-a-png.jpg",
            encode(&picture(11, 40, 30), image::ImageFormat::Png),
            Expect::OkOrError,
        ),
        (
            "really-a-jpeg.png",
            encode(&picture(13, 40, 30), image::ImageFormat::Jpeg),
            Expect::OkOrError,
        ),
        (
            "text.gif",
            b"GIF? no, just some text\n".to_vec(),
            Expect::ItemError,
        ),
        (
            "html.webp",
            b"<html><body>not an image</body></html>".to_vec(),
            Expect::ItemError,
        ),
        (
            "random.bmp",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
            Expect::ItemError,
        ),
    ];
    files
        .into_iter()
        .map(|(name, bytes, e)| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            (p, e)
        })
        .collect()
}

fn page(title: &str, body: &str) -> String {
    format!("<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>")
}

/// Write the bad-page corpus (and good pages) into `dir`. Sizes: one 50 MB page.
pub fn write_page_corpus(dir: &Path) -> Vec<(PathBuf, Expect)> {
    std::fs::create_dir_all(dir).unwrap();
    let form = r#"<form><label for="m">手机号</label><input id="m" name="mobile" type="tel">
                  <label>姓名 <input name="name"></label><button type="submit">提交</button></form>"#;
    let mut files: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "good-utf8.html",
            page("登记", form).into_bytes(),
            Expect::Ok,
        ),
        (
            "good-en.htm",
            page(
                "Sign up",
                r#"<form><input name="email" type="email" placeholder="Email"></form>"#,
            )
            .into_bytes(),
            Expect::Ok,
        ),
    ];
    // GBK without any charset declaration (no meta, no BOM).
    let gbk_text = page("客户登记", form);
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&gbk_text);
    assert!(!unmappable);
    files.push(("gbk-no-meta.html", gbk.into_owned(), Expect::Ok));
    files.push(("zero.html", vec![], Expect::OkOrError));
    let binary: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    files.push(("binary.html", binary, Expect::ItemError));
    let mut png_as_html = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png_as_html.extend([0u8; 64]);
    files.push(("image.htm", png_as_html, Expect::ItemError));
    // 100k nested elements around a form: must not overflow the stack.
    let depth = 100_000;
    let nested = format!("{}{form}{}", "<div>".repeat(depth), "</div>".repeat(depth));
    files.push((
        "deep.html",
        page("deep", &nested).into_bytes(),
        Expect::OkOrError,
    ));
    let nested_spans = format!("{}<input name=phone>", "<span><b><i>".repeat(30_000));
    files.push((
        "deep-inline.html",
        page("deep2", &nested_spans).into_bytes(),
        Expect::OkOrError,
    ));
    // A 10,000-field form.
    let many: String = (0..10_000)
        .map(|i| format!("<label>字段{i}<input name=f{i}></label>"))
        .collect();
    files.push((
        "many-fields.html",
        page("many", &format!("<form>{many}</form>")).into_bytes(),
        Expect::OkOrError,
    ));
    // A 50 MB page (a form at the start, then filler).
    let mut big = page("big", form).into_bytes();
    big.truncate(big.len() - "</body></html>".len());
    let filler = b"<p>filler text filler text filler text filler text filler text</p>\n";
    while big.len() < 50 * 1024 * 1024 {
        big.extend_from_slice(filler);
    }
    big.extend_from_slice(b"</body></html>");
    files.push(("huge-50mb.html", big, Expect::OkOrError));
    // Broken markup still imports.
    files.push((
        "broken.html",
        b"<html><body><form><input name=tel type=tel><label>Phone</form></div></span><input name=x"
            .to_vec(),
        Expect::Ok,
    ));
    files
        .into_iter()
        .map(|(name, bytes, e)| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            (p, e)
        })
        .collect()
}

/// Check the import's items against the corpus expectations (matched by file name).
fn check_items(store: &Store, kind: ItemKind, corpus: &[(PathBuf, Expect)]) {
    let items = store.items_of_kind(kind).unwrap();
    for (path, expect) in corpus {
        let name = path.file_name().unwrap().to_str().unwrap();
        let found: Vec<_> = items
            .iter()
            .filter(|i| i.source_path.ends_with(name))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{name}: expected one item, found {}",
            found.len()
        );
        let it = found[0];
        match expect {
            Expect::Ok => assert!(
                it.error.is_none(),
                "{name}: unexpected error {:?}",
                it.error
            ),
            Expect::ItemError => {
                let e = it
                    .error
                    .as_deref()
                    .unwrap_or_else(|| panic!("{name}: no error recorded"));
                assert!(!e.trim().is_empty(), "{name}: empty error");
            }
            Expect::OkOrError => {}
        }
    }
}

#[test]
fn corpora_are_what_they_claim() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = write_image_corpus(&dir.path().join("img"));
    for (p, e) in &imgs {
        let decoded = image::ImageReader::open(p)
            .and_then(|r| r.with_guessed_format())
            .map(|r| {
                let mut r = r;
                r.limits(image::Limits::default());
                r.decode()
            });
        let ok = matches!(decoded, Ok(Ok(_)));
        let by_content = p
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("really-");
        match e {
            _ if by_content => assert!(ok, "{} should decode by content", p.display()),
            Expect::Ok => assert!(ok, "{} should decode", p.display()),
            Expect::ItemError => assert!(!ok, "{} should not decode", p.display()),
            Expect::OkOrError => {}
        }
    }
    let pages = write_page_corpus(&dir.path().join("pages"));
    let gbk = std::fs::read(dir.path().join("pages/gbk-no-meta.html")).unwrap();
    assert!(
        std::str::from_utf8(&gbk).is_err(),
        "the GBK page is not UTF-8"
    );
    assert!(!String::from_utf8_lossy(&gbk).contains("charset"));
    assert_eq!(encoding_rs::GBK.decode(&gbk).0.matches("手机号").count(), 1);
    let big = std::fs::metadata(dir.path().join("pages/huge-50mb.html"))
        .unwrap()
        .len();
    assert!(big >= 50 * 1024 * 1024);
    assert_eq!(pages.len(), 11);
}

#[test]
fn bad_images_become_item_errors_and_the_rest_imports() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write_image_corpus(&dir.path().join("in"));
    let path = dir.path().join("p.yuxuan");
    let mut store = Store::create(&path, "bad", TaskKind::Image).unwrap();
    let summary = yuxuan::ingest::images::import_paths(
        &mut store,
        &[dir.path().join("in")],
        &Default::default(),
        &JobCtx::new("import"),
    )
    .unwrap();
    assert_eq!(summary.seen, corpus.len());
    let errors = corpus
        .iter()
        .filter(|(_, e)| *e == Expect::ItemError)
        .count();
    let maybe = corpus
        .iter()
        .filter(|(_, e)| *e == Expect::OkOrError)
        .count();
    assert!(
        summary.errors >= errors && summary.errors <= errors + maybe,
        "{summary:?}"
    );
    check_items(&store, ItemKind::Image, &corpus);
}

#[test]
fn bad_pages_become_item_errors_and_the_rest_imports() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write_page_corpus(&dir.path().join("in"));
    let path = dir.path().join("p.yuxuan");
    let mut store = Store::create(&path, "bad", TaskKind::Form).unwrap();
    let t = Instant::now();
    let summary = yuxuan::ingest::pages::import_paths(
        &mut store,
        &[dir.path().join("in")],
        &Default::default(),
        &JobCtx::new("import"),
    )
    .unwrap();
    eprintln!(
        "page corpus imported in {:.1} s: {summary}",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(summary.seen, corpus.len());
    check_items(&store, ItemKind::Page, &corpus);
    // The GBK page without a charset declaration was decoded right.
    let pages = store.items_of_kind(ItemKind::Page).unwrap();
    let gbk = pages
        .iter()
        .find(|p| p.source_path.ends_with("gbk-no-meta.html"))
        .unwrap();
    let (_, html) = store.page_html(gbk.id).unwrap().expect("page html stored");
    assert!(
        html.contains("手机号") && html.contains("客户登记"),
        "GBK page decoded wrongly"
    );
    let fields = store.children(gbk.id).unwrap();
    assert!(
        fields.iter().any(|f| f.meta.to_string().contains("手机号")),
        "the phone field's label"
    );
    // The 10,000-field form is imported (capped or not) without hanging.
    let many = pages
        .iter()
        .find(|p| p.source_path.ends_with("many-fields.html"))
        .unwrap();
    if many.error.is_none() {
        assert!(!store.children(many.id).unwrap().is_empty());
    }
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

/// An export killed with SIGKILL midway: no partial dataset at the destination (absent before,
/// absent after), and an earlier complete export at the destination (`--force` re-export killed)
/// is left exactly as it was. The only trace is the hidden `.NAME.partial-*` folder.
#[test]
fn export_killed_midway_leaves_no_partial_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let path = dir.path().join("exp.yuxuan");
    let labels = ["cat", "dog", "bird"];
    let (_, mut store) = (0, Store::create(&path, "exp", TaskKind::Image).unwrap());
    store
        .add_labels(
            "class",
            &labels
                .iter()
                .map(|l| yuxuan::domain::NewLabel::named(*l))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let n = 3000;
    let mut items = Vec::with_capacity(n);
    for i in 0..n {
        let p = files.join(format!("img{i:05}.png"));
        std::fs::write(
            &p,
            encode(
                &picture((i % 250) as u8 + 1, 24, 24),
                image::ImageFormat::Png,
            ),
        )
        .unwrap();
        let mut it = yuxuan::domain::NewItem::new(ItemKind::Image, p.to_str().unwrap());
        it.content_hash = Some(format!("h{i}"));
        items.push(it);
    }
    let ids: Vec<i64> = store
        .insert_items(&items)
        .unwrap()
        .into_iter()
        .map(|r| r.id())
        .collect();
    let ds: Vec<yuxuan::domain::NewDecision> = ids
        .iter()
        .enumerate()
        .map(|(i, &item_id)| yuxuan::domain::NewDecision {
            item_id,
            label_set: "class".into(),
            label: Some(labels[i % 3].into()),
            annotator: "a".into(),
            action: yuxuan::domain::Action::Correct,
            ms_spent: 1,
            prediction_id: None,
        })
        .collect();
    store.record_decisions(&ds).unwrap();
    drop(store);

    let out_dir = dir.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let target = out_dir.join("dataset");
    let export = |force: bool| {
        let mut c = Command::new(common::bin());
        c.args([
            "export",
            path.to_str().unwrap(),
            "--format",
            "imagefolder",
            "--out",
            target.to_str().unwrap(),
        ]);
        if force {
            c.arg("--force");
        }
        c.stdout(Stdio::null()).stderr(Stdio::null());
        c
    };
    // Kill once the hidden partial folder holds some files: midway through the copy.
    let kill_midway = |force: bool| -> bool {
        let mut child = Reaper(export(force).spawn().unwrap());
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            let partial: usize = std::fs::read_dir(&out_dir)
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().contains(".partial-"))
                .map(|e| walk_count(&e.path()))
                .sum();
            if partial >= 50 {
                sigkill(&mut child.0);
                return true;
            }
            if let Ok(Some(_)) = child.0.try_wait() {
                return false; // finished before we could kill it
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("the export made no visible progress in 60 s");
    };
    assert!(
        kill_midway(false),
        "the export finished before it could be killed midway"
    );
    assert!(
        !target.exists(),
        "a partial dataset appeared at the destination"
    );

    // A complete export, then a --force re-export killed midway: the first one is untouched.
    let ok = export(false).status().unwrap();
    assert!(ok.success());
    let before = tree_digest(&target);
    assert!(
        walk_count(&target) >= n,
        "every image (and the format's own files) exported"
    );
    assert!(
        kill_midway(true),
        "the re-export finished before it could be killed midway"
    );
    assert_eq!(tree_digest(&target), before, "the existing dataset changed");
}

fn walk_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| {
                    if e.path().is_dir() {
                        walk_count(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Relative path and blake3 of every file under `dir`, sorted.
fn tree_digest(dir: &Path) -> Vec<(PathBuf, String)> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<(PathBuf, String)>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push((
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    yuxuan::assets::file_checksum(&p).unwrap(),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// `yuxuan stats P | head -1`: the command ends quietly when its reader goes away (the
/// default SIGPIPE action, as `cat` does), with no "Broken pipe" panic on stderr.
#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.yuxuan");
    let mut store = Store::create(&path, "many", TaskKind::Image).unwrap();
    // 5,000 labels: far more output than a pipe buffer holds.
    let labels: Vec<yuxuan::domain::NewLabel> = (0..5000)
        .map(|i| yuxuan::domain::NewLabel::named(format!("label-{i:05}")))
        .collect();
    store.add_labels("class", &labels).unwrap();
    drop(store);
    let mut child = Reaper(
        Command::new(common::bin())
            .args(["stats", path.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut first = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("project: many"), "{first}");
    // The reader is gone (dropped above); the writer must stop.
    let status = child.0.wait().unwrap();
    let mut err = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?}");
}

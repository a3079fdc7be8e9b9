//! Label Studio tasks JSON, both directions.
//!
//! Export writes `tasks.json` (a JSON array of tasks, streamed) and `label_config.xml` (an
//! `<Image name="image">` with a single-choice `<Choices name="label">` of the project's
//! classes). Each task is
//!
//! ```json
//! {"data": {"image": "/data/local-files/?d=abs/path.png"},
//!  "meta": {"yuxuan_item_id": 7, "source_path": "/abs/path.png", "annotator": "ann"},
//!  "annotations": [{"result": [{"from_name": "label", "to_name": "image", "type": "choices",
//!                               "value": {"choices": ["cat"]}}],
//!                   "created_at": "…", "lead_time": 1.2, "was_cancelled": false}],
//!  "predictions": [{"model_version": "v3", "score": 0.93, "result": [ …choices… ]}]}
//! ```
//!
//! Images are referenced as Label Studio local files relative to a document root (`/`, or
//! `--ls-document-root`): Label Studio serves them with `LOCAL_FILES_SERVING_ENABLED=true
//! LOCAL_FILES_DOCUMENT_ROOT=<root>` and a Local Files storage covering the images' common
//! folder; the export's `README.md` (and the CLI's last lines) give those steps. Every item is a
//! task (unlabeled ones too, to be labeled there); `annotations` hold the human label,
//! `predictions` (only with `include_predictions`) the best current prediction at or above
//! `min_score`.
//!
//! Import ([`parse_tasks`]) reads Label Studio's own exports as well: `data.image` as a
//! local-files URL, an absolute path, an upload (`/data/upload/3/1a2b3c4d-name.png`) or any
//! URL (matched by file name); the newest non-cancelled annotation with a `choices` result
//! becomes a decision, each prediction with a `choices` result a prediction.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::atomic::AtomicDir;
use super::{tick, ExchangeError, ExportRequest, ExportSummary, Result};
use crate::domain::{sets, ItemKind};
use crate::jobs::JobCtx;
use crate::store::exchange::ExportQuery;
use crate::store::Store;

pub const TASKS_FILE: &str = "tasks.json";
pub const CONFIG_FILE: &str = "label_config.xml";
/// Prefix of Label Studio's local-files URLs.
pub const LOCAL_FILES: &str = "/data/local-files/?d=";

/// Percent-encode a path for a URL query value (keeps `/` and unreserved ASCII).
pub fn encode_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for b in p.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Undo [`encode_path`] (`%XX` escapes; a `+` stays a `+`, as in file names).
pub fn decode_path(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn choices(label: &str) -> Value {
    json!([{ "from_name": "label", "to_name": "image", "type": "choices", "value": { "choices": [label] } }])
}

/// The labeling config for the project's classes.
pub fn label_config(labels: &[String]) -> String {
    let mut s = String::from(
        "<View>\n  <Image name=\"image\" value=\"$image\"/>\n  <Choices name=\"label\" toName=\"image\" choice=\"single\" showInLine=\"true\">\n",
    );
    for l in labels {
        s.push_str(&format!("    <Choice value=\"{}\"/>\n", xml_escape(l)));
    }
    s.push_str("  </Choices>\n</View>\n");
    s
}

pub(crate) fn export(
    store: &Store,
    req: &ExportRequest,
    dir: &AtomicDir,
    ctx: &JobCtx,
    summary: &mut ExportSummary,
) -> Result<Value> {
    let labels: Vec<String> = store
        .labels(sets::CLASS)?
        .into_iter()
        .map(|l| l.name)
        .collect();
    let mut cfg = dir.create_file(Path::new(CONFIG_FILE))?;
    cfg.write_all(label_config(&labels).as_bytes())?;
    cfg.finish()?;

    ctx.set_total(store.count_items(ItemKind::Image)?);
    let mut out = dir.create_file(Path::new(TASKS_FILE))?;
    out.write_all(b"[")?;
    let q = ExportQuery {
        kind: ItemKind::Image,
        set: sets::CLASS.into(),
        parent_set: None,
        parent: None,
    };
    let root = req
        .ls_document_root
        .clone()
        .unwrap_or_else(|| PathBuf::from("/"));
    if !root.is_absolute() {
        return Err(ExchangeError::BadOutput(
            root.clone(),
            "--ls-document-root must be an absolute folder (Label Studio's LOCAL_FILES_DOCUMENT_ROOT)".into(),
        ));
    }
    let mut common: Option<PathBuf> = None;
    let mut n = 0u64;
    let mut first = true;
    let mut buf = Vec::with_capacity(1024);
    store.for_each_export_row(&q, |row| -> Result<()> {
        tick(ctx, &mut n)?;
        summary.items += 1;
        if row.error.is_some() {
            summary.with_errors += 1;
            return Ok(());
        }
        let mut annotations = Vec::new();
        if let Some(l) = &row.label {
            summary.human += 1;
            annotations.push(json!({
                "result": choices(l),
                "created_at": row.decided_at,
                "lead_time": row.ms_spent.map(|ms| ms as f64 / 1000.0),
                "was_cancelled": false,
                "ground_truth": false,
            }));
        }
        let mut predictions = Vec::new();
        if req.include_predictions {
            if let (Some(l), Some(s)) = (&row.pred_label, row.pred_score) {
                if s >= req.min_score {
                    if row.label.is_none() {
                        summary.machine += 1;
                    }
                    summary.with_prediction += 1;
                    predictions.push(json!({
                        "model_version": row.pred_model_version.map(|v| format!("v{v}")).unwrap_or_else(|| "unknown".into()),
                        "score": s,
                        "result": choices(l),
                    }));
                }
            }
        }
        if annotations.is_empty() && predictions.is_empty() {
            summary.without_label += 1;
        }
        // Relative source paths are the project folder's (as everywhere in the store).
        let resolved = store.location().resolve_source(&row.source_path);
        let path = std::path::absolute(&resolved).unwrap_or(resolved);
        let path = path.as_path();
        let Ok(rel) = path.strip_prefix(&root) else {
            return Err(ExchangeError::BadOutput(
                root.clone(),
                format!(
                    "{} is not under the Label Studio document root {}: choose a root above every image (--ls-document-root)",
                    row.source_path,
                    root.display()
                ),
            ));
        };
        let folder = path.parent().unwrap_or(path).to_path_buf();
        common = Some(match common.take() {
            None => folder,
            Some(c) => common_dir(&c, &folder),
        });
        let mut task = json!({
            "data": { "image": format!("{LOCAL_FILES}{}", encode_path(&rel.to_string_lossy())) },
            "meta": { "yuxuan_item_id": row.item_id, "source_path": row.source_path },
            "annotations": annotations,
            "predictions": predictions,
        });
        if let (Some(a), Some(meta)) = (&row.annotator, task.get_mut("meta").and_then(|m| m.as_object_mut())) {
            meta.insert("annotator".into(), Value::String(a.clone()));
        }
        buf.clear();
        buf.extend_from_slice(if first { b"\n" } else { b",\n" });
        first = false;
        serde_json::to_writer(&mut buf, &task).expect("serializes");
        out.write_all(&buf)
    })?;
    ctx.set_done(n);
    out.write_all(b"\n]\n")?;
    out.finish()?;
    let storage = common.unwrap_or_else(|| root.clone());
    let steps = serve_steps(&root, &storage);
    let mut readme = dir.create_file(Path::new(README_FILE))?;
    readme.write_all(readme_text(&root, &storage, &steps).as_bytes())?;
    readme.finish()?;
    summary.next_steps = steps;
    Ok(json!({
        "files": [TASKS_FILE, CONFIG_FILE, README_FILE],
        "document_root": root,
        "storage_path": storage,
        "serve_with": format!("LOCAL_FILES_SERVING_ENABLED=true LOCAL_FILES_DOCUMENT_ROOT={}", root.display()),
    }))
}

/// The README written into a Label Studio export.
pub const README_FILE: &str = "README.md";

/// The deepest folder containing both `a` and `b`.
fn common_dir(a: &Path, b: &Path) -> PathBuf {
    a.components()
        .zip(b.components())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x)
        .collect()
}

/// What a user does to see the exported images in Label Studio: serving local files alone
/// answers 404 until the project has a Local Files storage covering the images' folder.
pub fn serve_steps(root: &Path, storage: &Path) -> Vec<String> {
    vec![
        format!(
            "1. start Label Studio with LOCAL_FILES_SERVING_ENABLED=true LOCAL_FILES_DOCUMENT_ROOT={} label-studio start",
            root.display()
        ),
        "2. create a project; Settings > Labeling Interface > Code: paste label_config.xml".into(),
        format!(
            "3. Settings > Cloud Storage > Add Source Storage > Local files, absolute local path {} (no sync needed), or: curl -X POST http://localhost:8080/api/storages/localfiles -H \"Authorization: Token $TOKEN\" -H 'Content-Type: application/json' -d '{{\"project\": PROJECT_ID, \"path\": \"{}\", \"use_blob_urls\": false}}'",
            storage.display(),
            storage.display()
        ),
        "4. Data Import: upload tasks.json (annotations and predictions come with it)".into(),
    ]
}

fn readme_text(root: &Path, storage: &Path, steps: &[String]) -> String {
    let mut s = String::from("# Label Studio export (yuxuan)\n\n");
    s.push_str(&format!(
        "`tasks.json` holds one task per image; each task's image is a Label Studio local file,\n\
         `/data/local-files/?d=PATH` with PATH relative to the document root `{}`. Label Studio\n\
         serves those files only with local files serving on **and** a Local Files storage of the\n\
         project covering the images' folder `{}` (without it `/data/local-files/` answers 404).\n\n",
        root.display(),
        storage.display()
    ));
    for step in steps {
        s.push_str(step);
        s.push_str("\n\n");
    }
    s.push_str(
        "`label_config.xml`: the labeling interface (one choice per class of the project).\n",
    );
    s
}

/// How a task names its image, resolved as far as can be without the project.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageRef {
    /// A local path (from a local-files URL or a plain path).
    Path(PathBuf),
    /// Only a file name is known (uploads, URLs).
    FileName(String),
}

/// A Label Studio annotation, with its provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct LsAnnotation {
    pub label: String,
    /// Label Studio's own `completed_by`: the email when the export has it, else the user id.
    pub annotator: String,
    pub ms: i64,
    /// When it was made: `updated_at`, else `created_at` (RFC 3339, as Label Studio wrote it).
    pub at: Option<String>,
    /// Label Studio's annotation id.
    pub id: Option<i64>,
}

/// One task as the importer needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct LsTask {
    /// Position of the task in the file (1-based), for problem reports.
    pub index: usize,
    pub image: ImageRef,
    /// The item id the task was exported from, if it came from yuxuan.
    pub item_id: Option<i64>,
    /// The newest non-cancelled annotation with a label.
    pub annotation: Option<LsAnnotation>,
    /// Label Studio's task id, if the file has one.
    pub task_id: Option<i64>,
    /// Predictions: (model version string, label, score).
    pub predictions: Vec<(Option<String>, String, Option<f64>)>,
}

fn first_choice(result: &Value) -> Option<String> {
    result.as_array()?.iter().find_map(|r| {
        let v = r.get("value")?;
        v.get("choices")?
            .as_array()?
            .first()?
            .as_str()
            .map(str::to_string)
    })
}

/// Resolve a `data.image`-like reference.
pub fn image_ref(s: &str) -> ImageRef {
    if let Some(i) = s.find("?d=") {
        let d = decode_path(s[i + 3..].split('&').next().unwrap_or(""));
        let p = if d.starts_with('/') {
            d
        } else {
            format!("/{d}")
        };
        return ImageRef::Path(PathBuf::from(p));
    }
    if let Some(rest) = s.strip_prefix("file://") {
        return ImageRef::Path(PathBuf::from(decode_path(rest)));
    }
    if s.starts_with('/') && !s.starts_with("/data/") {
        return ImageRef::Path(PathBuf::from(s));
    }
    let last = s
        .split(['?', '#'])
        .next()
        .unwrap_or(s)
        .rsplit('/')
        .next()
        .unwrap_or(s);
    let mut name = decode_path(last);
    if s.contains("/data/upload/") {
        // Label Studio prefixes uploads with 8 hex digits and a dash.
        if let Some((prefix, rest)) = name.split_once('-') {
            if prefix.len() == 8 && prefix.chars().all(|c| c.is_ascii_hexdigit()) {
                name = rest.to_string();
            }
        }
    }
    ImageRef::FileName(name)
}

/// The usable tasks of a file, and the skipped ones: (task number, why).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedTasks {
    pub tasks: Vec<LsTask>,
    pub problems: Vec<(usize, String)>,
}

/// Parse a Label Studio tasks file. Tasks that make no sense are returned as problems
/// `(task index, message)` and skipped.
pub fn parse_tasks(path: &Path) -> Result<ParsedTasks> {
    let text = std::fs::read_to_string(path).map_err(|e| ExchangeError::io(path, e))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| ExchangeError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let tasks = match v {
        Value::Array(a) => a,
        Value::Object(_) => vec![v],
        _ => {
            return Err(ExchangeError::Parse {
                path: path.to_path_buf(),
                message: "expected a JSON array of tasks".into(),
            })
        }
    };
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let index = i + 1;
        let Some(data) = t.get("data").and_then(|d| d.as_object()) else {
            problems.push((index, "task has no \"data\" object".into()));
            continue;
        };
        let image = data
            .get("image")
            .and_then(|x| x.as_str())
            .or_else(|| data.values().find_map(|x| x.as_str()));
        let Some(image) = image.filter(|s| !s.trim().is_empty()) else {
            problems.push((index, "task has no image reference in \"data\"".into()));
            continue;
        };
        let meta = t.get("meta");
        let item_id = meta
            .and_then(|m| m.get("yuxuan_item_id"))
            .and_then(|x| x.as_i64());
        let meta_annotator = meta
            .and_then(|m| m.get("annotator"))
            .and_then(|x| x.as_str());
        let mut annotation = None;
        if let Some(anns) = t.get("annotations").and_then(|a| a.as_array()) {
            // Newest last in Label Studio's exports; take the last one not cancelled.
            for a in anns.iter().rev() {
                if a.get("was_cancelled")
                    .and_then(|x| x.as_bool())
                    .unwrap_or(false)
                {
                    continue;
                }
                let Some(label) = a.get("result").and_then(first_choice) else {
                    continue;
                };
                // A yuxuan export names its annotator in meta; Label Studio's own exports
                // say who completed it: an object with the email, or the user id.
                let annotator = meta_annotator
                    .map(str::to_string)
                    .or_else(|| {
                        a.get("completed_by").and_then(|c| {
                            c.get("email")
                                .and_then(|e| e.as_str())
                                .map(str::to_string)
                                .or_else(|| {
                                    c.get("id")
                                        .and_then(|id| id.as_i64())
                                        .map(|id| id.to_string())
                                })
                                .or_else(|| c.as_i64().map(|id| id.to_string()))
                        })
                    })
                    .unwrap_or_else(|| "label-studio".to_string());
                let ms = a
                    .get("lead_time")
                    .and_then(|x| x.as_f64())
                    .map(|s| (s * 1000.0).round() as i64)
                    .unwrap_or(0);
                let at = ["updated_at", "created_at"]
                    .iter()
                    .find_map(|k| a.get(*k).and_then(|x| x.as_str()).map(str::to_string));
                annotation = Some(LsAnnotation {
                    label,
                    annotator,
                    ms: ms.max(0),
                    at,
                    id: a.get("id").and_then(|x| x.as_i64()),
                });
                break;
            }
        }
        let mut predictions = Vec::new();
        if let Some(ps) = t.get("predictions").and_then(|a| a.as_array()) {
            for p in ps {
                let Some(label) = p.get("result").and_then(first_choice) else {
                    continue;
                };
                let version = p.get("model_version").and_then(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                });
                let score = p.get("score").and_then(|s| s.as_f64());
                predictions.push((version, label, score));
            }
        }
        out.push(LsTask {
            index,
            image: image_ref(image),
            item_id,
            annotation,
            task_id: t.get("id").and_then(|x| x.as_i64()),
            predictions,
        });
    }
    Ok(ParsedTasks {
        tasks: out,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_survive_url_encoding() {
        for p in ["/tmp/a b/猫 1.png", "/x/100%.jpg", "/a+b/c&d.png"] {
            let url = format!("{LOCAL_FILES}{}", encode_path(p.trim_start_matches('/')));
            assert_eq!(image_ref(&url), ImageRef::Path(PathBuf::from(p)), "{url}");
        }
    }

    #[test]
    fn uploads_and_urls_resolve_to_file_names() {
        assert_eq!(
            image_ref("/data/upload/3/1a2b3c4d-cat.png"),
            ImageRef::FileName("cat.png".into())
        );
        assert_eq!(
            image_ref("https://x.org/img/dog%201.jpg?sig=1"),
            ImageRef::FileName("dog 1.jpg".into())
        );
        assert_eq!(
            image_ref("/abs/p.png"),
            ImageRef::Path(PathBuf::from("/abs/p.png"))
        );
    }

    #[test]
    fn label_config_escapes_names() {
        let c = label_config(&["a\"<b>".into(), "中文".into()]);
        assert!(c.contains("value=\"a&quot;&lt;b&gt;\""));
        assert!(c.contains("value=\"中文\""));
    }
}

//! H5 page import (issue 4): walks files and folders for .html/.htm pages, decodes and
//! extracts them on all cores ([`super::html`]), and stores each page with its forms and fields
//! in one transaction. A page that cannot be read becomes a page item with an error; the import
//! goes on.

use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::html::{self, ExtractOptions, Extracted};
use super::ImportSummary;
use crate::domain::{ItemKind, NewItem};
use crate::jobs::JobCtx;
use crate::store::forms::PageParts;
use crate::store::items::Inserted;
use crate::store::Store;

/// Files larger than this are read only up to it (the rest of a 50 MB page is not parsed).
pub const MAX_FILE_BYTES: u64 = 24 * 1024 * 1024;

/// Options of a page import.
#[derive(Debug, Clone, Default)]
pub struct PageImportOptions {
    /// Also extract `<input type=hidden>`.
    pub include_hidden: bool,
}

/// Whether a path looks like an HTML page (by extension).
pub fn is_page_path(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| matches!(e.to_ascii_lowercase().as_str(), "html" | "htm" | "xhtml"))
        .unwrap_or(false)
}

/// Files to import: given files as they are, folders walked (iteratively, sorted, symlinked
/// folders not followed) for pages.
pub fn collect_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut stack = vec![p.clone()];
            while let Some(dir) = stack.pop() {
                let Ok(rd) = std::fs::read_dir(&dir) else {
                    continue;
                };
                let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).collect();
                entries.sort_by_key(|e| e.file_name());
                let mut subdirs = Vec::new();
                for e in entries {
                    let Ok(ft) = e.file_type() else { continue };
                    if ft.is_dir() {
                        subdirs.push(e.path());
                    } else if is_page_path(&e.path()) {
                        out.push(e.path());
                    }
                }
                subdirs.reverse();
                stack.extend(subdirs);
            }
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// A page read from its bytes, ready to store: the item (its error set when the bytes are not
/// a readable page), the decoded `(charset, html)`, its forms `(container, meta)` and fields
/// `(form index, item)`. The same for imported files and crawled URLs.
#[derive(Debug, Clone)]
pub struct PageRecord {
    pub item: NewItem,
    pub html: Option<(String, String)>,
    pub forms: Vec<(String, serde_json::Value)>,
    pub fields: Vec<(usize, NewItem)>,
}

impl PageRecord {
    /// The parts the store inserts; `raw`: the bytes, kept when there is no file (crawls).
    pub fn parts<'a>(&'a self, raw: Option<&'a [u8]>) -> PageParts<'a> {
        PageParts {
            page: &self.item,
            html: self.html.as_ref().map(|(c, h)| (c.as_str(), h.as_str())),
            forms: &self.forms,
            fields: &self.fields,
            raw,
        }
    }
}

/// Decode and extract a page from its bytes (`size`: the whole file's length, more than
/// `bytes.len()` when it was read only up to a cap; `header_charset`: the HTTP header's). The
/// item's source is `source` (a path, or the URL of a crawled page). No database access.
pub fn page_from_bytes(
    source: &str,
    bytes: &[u8],
    size: u64,
    header_charset: Option<&str>,
    opts: ExtractOptions,
) -> PageRecord {
    let mut page = NewItem::new(ItemKind::Page, source);
    page.content_hash = Some(blake3::hash(bytes).to_hex().to_string());
    page.size_bytes = Some(size as i64);
    match html::decode_with_header(bytes, header_charset) {
        Err(e) => {
            page.error = Some(e.to_string());
            PageRecord {
                item: page,
                html: None,
                forms: Vec::new(),
                fields: Vec::new(),
            }
        }
        Ok(d) => {
            let x: Extracted = html::extract(&d.html, opts);
            page.meta = serde_json::json!({
                "title": x.title,
                "headings": x.headings,
                "charset": d.charset,
                "charset_source": d.charset_source,
                "html_truncated": d.truncated || size > bytes.len() as u64,
                "decode_errors": d.had_errors,
                "nesting_truncated": d.nesting_truncated,
                "n_forms": x.forms.len(),
                "n_fields": x.fields.len(),
                "total_fields": x.total_fields,
                "fields_capped": x.total_fields > x.fields.len(),
            });
            let forms = x
                .forms
                .iter()
                .map(|f| {
                    (
                        f.container.clone(),
                        serde_json::to_value(f).unwrap_or_default(),
                    )
                })
                .collect();
            let fields = x
                .fields
                .iter()
                .map(|f| {
                    let mut it = NewItem::new(ItemKind::Field, source);
                    it.position = f.position as i64;
                    it.meta = serde_json::to_value(f).unwrap_or_default();
                    (f.form_index, it)
                })
                .collect();
            PageRecord {
                item: page,
                html: Some((d.charset, d.html)),
                forms,
                fields,
            }
        }
    }
}

fn read_capped(path: &Path) -> std::io::Result<(Vec<u8>, u64)> {
    let f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let mut buf = Vec::with_capacity(len.min(MAX_FILE_BYTES) as usize);
    f.take(MAX_FILE_BYTES).read_to_end(&mut buf)?;
    Ok((buf, len))
}

/// One file read and extracted (no database access; runs on worker threads).
fn prepare(path: &Path, opts: ExtractOptions) -> PageRecord {
    let source = path.to_string_lossy();
    match read_capped(path) {
        Ok((bytes, len)) => page_from_bytes(&source, &bytes, len, None, opts),
        Err(e) => {
            let mut page = NewItem::new(ItemKind::Page, source);
            page.error = Some(format!("cannot read: {e}"));
            PageRecord {
                item: page,
                html: None,
                forms: Vec::new(),
                fields: Vec::new(),
            }
        }
    }
}

/// Import .html/.htm pages from files and folders.
pub fn import_paths(
    store: &mut Store,
    paths: &[PathBuf],
    opts: &PageImportOptions,
    ctx: &JobCtx,
) -> anyhow::Result<ImportSummary> {
    let files = collect_files(paths);
    let xopts = ExtractOptions {
        include_hidden: opts.include_hidden,
    };
    let mut summary = ImportSummary {
        seen: files.len(),
        ..Default::default()
    };
    ctx.set_total(files.len() as u64);
    ctx.set_done(0);
    for chunk in files.chunks(16) {
        ctx.check()?;
        let prepared: Vec<PageRecord> = chunk.par_iter().map(|p| prepare(p, xopts)).collect();
        for p in prepared {
            store_page(store, p, &mut summary)?;
            ctx.inc(1);
        }
    }
    Ok(summary)
}

fn store_page(store: &mut Store, p: PageRecord, summary: &mut ImportSummary) -> anyhow::Result<()> {
    let html = p.html.as_ref().map(|(c, h)| (c.as_str(), h.as_str()));
    match store.insert_page(&p.item, html, &p.forms, &p.fields)? {
        Inserted::New(_) => {
            summary.added += 1;
            if p.item.error.is_some() {
                summary.errors += 1;
            }
            summary.children += p.fields.len();
        }
        Inserted::Duplicate(_) => summary.duplicates += 1,
    }
    Ok(())
}

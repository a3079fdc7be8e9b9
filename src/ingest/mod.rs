//! Getting items into a project: images (decode, hash, EXIF, errors) and H5 pages (charset,
//! HTML5 parsing, form fields). Bad input never stops an import: each bad file becomes an item
//! with an error, counted in the summary.

pub mod html;
pub mod images;
pub mod jpeg;
pub mod pages;

use serde::Serialize;

/// What an import did, for the CLI summary and the GUI toast.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportSummary {
    /// Files looked at.
    pub seen: usize,
    /// New items added.
    pub added: usize,
    /// Files whose content was already in the project.
    pub duplicates: usize,
    /// Files recorded with an error (reason in the item).
    pub errors: usize,
    /// Labels that came with the files (ImageFolder / CSV), recorded as decisions.
    pub labels_imported: usize,
    /// Sub-items created (form fields of pages).
    pub children: usize,
    /// Things the user should know that did not stop the import (malformed CSV rows with
    /// their line numbers, refused labels, unlistable folders).
    pub problems: Vec<String>,
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} files: {} added, {} duplicates, {} errors",
            self.seen, self.added, self.duplicates, self.errors
        )?;
        if self.children > 0 {
            write!(f, ", {} fields", self.children)?;
        }
        if self.labels_imported > 0 {
            write!(f, ", {} labels imported", self.labels_imported)?;
        }
        if !self.problems.is_empty() {
            write!(f, ", {} problems", self.problems.len())?;
        }
        Ok(())
    }
}

/// Import options that apply to some kinds only.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub images: images::ImageImportOptions,
    pub pages: pages::PageImportOptions,
}

/// Import files and folders into a project, reading what its kind reads (its task-kind row's
/// source).
pub fn import_paths(
    store: &mut crate::store::Store,
    paths: &[std::path::PathBuf],
    opts: &ImportOptions,
    ctx: &crate::jobs::JobCtx,
) -> anyhow::Result<ImportSummary> {
    use crate::kinds::Source;
    match store.project()?.kind.spec().source {
        Source::Images => images::import_paths(store, paths, &opts.images, ctx),
        Source::Pages => pages::import_paths(store, paths, &opts.pages, ctx),
    }
}

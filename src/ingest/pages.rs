//! H5 page import (issue 4): charset detection, HTML5 parsing, form field extraction.

use std::path::PathBuf;

use super::ImportSummary;
use crate::jobs::JobCtx;
use crate::store::Store;

/// Options of a page import.
#[derive(Debug, Clone, Default)]
pub struct PageImportOptions {
    /// Also extract `<input type=hidden>`.
    pub include_hidden: bool,
}

/// Import .html/.htm pages from files and folders.
pub fn import_paths(
    _store: &mut Store,
    _paths: &[PathBuf],
    _opts: &PageImportOptions,
    _ctx: &JobCtx,
) -> anyhow::Result<ImportSummary> {
    anyhow::bail!("page import is being built (issue 4)")
}

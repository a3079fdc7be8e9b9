//! Pages, forms and fields of H5 form projects: the page HTML and form grouping.

use rusqlite::{params, OptionalExtension};

use super::{Result, Store};

impl Store {
    /// Store a page's decoded HTML and the charset it was decoded from.
    pub fn put_page_html(&self, item_id: i64, charset: &str, html: &str) -> Result<()> {
        self.conn().execute(
            "INSERT OR REPLACE INTO page_html (item_id, charset, html) VALUES (?1, ?2, ?3)",
            params![item_id, charset, html],
        )?;
        Ok(())
    }

    /// A page's HTML and charset.
    pub fn page_html(&self, item_id: i64) -> Result<Option<(String, String)>> {
        Ok(self
            .conn()
            .query_row("SELECT charset, html FROM page_html WHERE item_id = ?1", [item_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    }

    /// Add a form (or a container grouping bare fields) to a page.
    pub fn add_form(&self, page_id: i64, position: i64, container: &str, meta: &serde_json::Value) -> Result<i64> {
        self.conn().execute(
            "INSERT INTO forms (page_id, position, container, meta_json) VALUES (?1, ?2, ?3, ?4)",
            params![page_id, position, container, meta.to_string()],
        )?;
        Ok(self.conn().last_insert_rowid())
    }
}

//! Pages, forms and fields of H5 form projects: the page HTML, form grouping, inserting a page
//! with its forms and fields in one transaction, and the queries presets and models read.

use super::db::{Exec, Tx};
use super::items::{insert_item_tx, Inserted};
use super::{now, Result, Store};

const PUT_HTML: &str = "INSERT INTO page_html (item_id, charset, html) VALUES (?1, ?2, ?3)
     ON CONFLICT (item_id) DO UPDATE SET charset = excluded.charset, html = excluded.html";
use crate::domain::NewItem;

/// A page to insert: the item, its decoded HTML `(charset, html)`, its forms `(container,
/// meta)`, its fields `(form index, item)`, and the fetched bytes when there is no file to
/// read them from (a crawled page).
pub struct PageParts<'a> {
    pub page: &'a NewItem,
    pub html: Option<(&'a str, &'a str)>,
    pub forms: &'a [(String, serde_json::Value)],
    pub fields: &'a [(usize, NewItem)],
    pub raw: Option<&'a [u8]>,
}

/// Insert a page with its HTML, forms and fields inside `tx`. `file_base`: the item's bytes
/// are kept in the database (team projects), a relative source read against it. Bytes given
/// in `raw` are kept on every backend (there is no file to read them from later).
pub(crate) fn insert_page_tx(
    tx: &Tx<'_>,
    p: &PageParts<'_>,
    t: &str,
    file_base: Option<&std::path::Path>,
) -> Result<Inserted> {
    let ins = insert_item_tx(tx, p.page, t)?;
    let Inserted::New(page_id) = ins else {
        return Ok(ins);
    };
    match (p.raw, &p.page.content_hash) {
        (Some(raw), Some(hash)) => {
            tx.execute(
                "INSERT INTO item_files (content_hash, bytes) VALUES (?1, ?2) ON CONFLICT (content_hash) DO NOTHING",
                &[hash, &raw],
            )?;
        }
        _ => {
            if let Some(base) = file_base {
                super::items::store_item_bytes_tx(tx, base, p.page)?;
            }
        }
    }
    if let Some((charset, html)) = p.html {
        tx.execute(PUT_HTML, &[&page_id, &charset, &html])?;
    }
    let mut form_ids = Vec::with_capacity(p.forms.len());
    for (pos, (container, meta)) in p.forms.iter().enumerate() {
        form_ids.push(tx.one(
            "INSERT INTO forms (page_id, position, container, meta_json) VALUES (?1, ?2, ?3, ?4) RETURNING id",
            &[&page_id, &(pos as i64), container, &meta.to_string()],
        )?);
    }
    for (form, field) in p.fields {
        let mut f = field.clone();
        f.parent_id = Some(page_id);
        f.form_id = form_ids.get(*form).copied();
        insert_item_tx(tx, &f, t)?;
    }
    Ok(ins)
}

impl Store {
    /// Store a page's decoded HTML and the charset it was decoded from.
    pub fn put_page_html(&self, item_id: i64, charset: &str, html: &str) -> Result<()> {
        self.db().execute(PUT_HTML, &[&item_id, &charset, &html])?;
        Ok(())
    }

    /// A page's HTML and charset.
    pub fn page_html(&self, item_id: i64) -> Result<Option<(String, String)>> {
        self.db().query_opt(
            "SELECT charset, html FROM page_html WHERE item_id = ?1",
            &[&item_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Add a form (or a container grouping bare fields) to a page.
    pub fn add_form(
        &self,
        page_id: i64,
        position: i64,
        container: &str,
        meta: &serde_json::Value,
    ) -> Result<i64> {
        self.db().one(
            "INSERT INTO forms (page_id, position, container, meta_json) VALUES (?1, ?2, ?3, ?4) RETURNING id",
            &[&page_id, &position, &container, &meta.to_string()],
        )
    }

    /// Insert a page item with its HTML, forms and fields in one transaction. A page whose
    /// content is already in the project is left as it is (`Duplicate`, nothing else written).
    /// Each field's `parent_id`/`form_id` are filled in here; `forms[k]` is (container, meta).
    pub fn insert_page(
        &mut self,
        page: &NewItem,
        html: Option<(&str, &str)>,
        forms: &[(String, serde_json::Value)],
        fields: &[(usize, NewItem)],
    ) -> Result<Inserted> {
        let t = now();
        let keep = self.keeps_file_bytes()?;
        let base = std::env::current_dir().unwrap_or_default();
        self.write(|tx| {
            let parts = PageParts {
                page,
                html,
                forms,
                fields,
                raw: None,
            };
            insert_page_tx(tx, &parts, &t, keep.then_some(base.as_path()))
        })
    }

    /// Forms of a page in order: (form id, container, meta).
    pub fn page_forms(&self, page_id: i64) -> Result<Vec<(i64, String, serde_json::Value)>> {
        self.db().query(
            "SELECT id, container, meta_json FROM forms WHERE page_id = ?1 ORDER BY position, id",
            &[&page_id],
            |r| {
                let meta: String = r.get(2)?;
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    serde_json::from_str(&meta).unwrap_or(serde_json::Value::Null),
                ))
            },
        )
    }

    /// Ids of fields whose page has no error (the field-type model's candidates), in page order.
    pub fn field_ids_of_ok_pages(&self) -> Result<Vec<i64>> {
        self.db().column(
            "SELECT f.id FROM items f JOIN items p ON p.id = f.parent_id
             WHERE f.kind = 'field' AND p.error IS NULL AND f.error IS NULL ORDER BY p.id, f.position, f.id",
            &[],
        )
    }

    /// Ids of pages without an error (the industry model's candidates).
    pub fn ok_page_ids(&self) -> Result<Vec<i64>> {
        self.db().column(
            "SELECT id FROM items WHERE kind = 'page' AND error IS NULL ORDER BY id",
            &[],
        )
    }
}

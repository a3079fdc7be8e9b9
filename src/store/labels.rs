//! Label sets and their ordered labels (hotkeys 1-9 follow the order).

use super::db::Exec;
use super::{Result, Store, StoreError};
use crate::domain::{Label, NewLabel};

const PALETTE: &[&str] = &[
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45",
    "#fabed4", "#469990", "#dcbeff", "#9a6324", "#800000", "#aaffc3", "#808000", "#000075",
    "#a9a9a9",
];

impl Store {
    /// Id of a label set by name.
    pub fn label_set_id(&self, set: &str) -> Result<i64> {
        self.db()
            .query_opt("SELECT id FROM label_sets WHERE name = ?1", &[&set], |r| {
                r.get(0)
            })?
            .ok_or_else(|| StoreError::UnknownLabelSet(set.to_string()))
    }

    /// Names of all label sets, with what they apply to.
    pub fn label_sets(&self) -> Result<Vec<(String, String)>> {
        self.db().query(
            "SELECT name, target FROM label_sets ORDER BY id",
            &[],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Labels of a set, in order.
    pub fn labels(&self, set: &str) -> Result<Vec<Label>> {
        let set_id = self.label_set_id(set)?;
        self.db().query(
            "SELECT l.id, l.name, l.display_name, l.position, l.hotkey, l.color, p.name
             FROM labels l LEFT JOIN labels p ON p.id = l.parent_id
             WHERE l.label_set_id = ?1 ORDER BY l.position, l.id",
            &[&set_id],
            |r| {
                Ok(Label {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    display_name: r.get(2)?,
                    position: r.get(3)?,
                    hotkey: r.get(4)?,
                    color: r.get(5)?,
                    parent: r.get(6)?,
                })
            },
        )
    }

    /// Add labels at the end of a set (existing names are left as they are). The first nine
    /// labels get hotkeys 1-9. Returns how many were added.
    pub fn add_labels(&mut self, set: &str, labels: &[NewLabel]) -> Result<usize> {
        let set_id = self.label_set_id(set)?;
        self.write(|tx| {
            let mut added = 0;
            let mut pos: i64 =
                tx.one("SELECT COALESCE(MAX(position) + 1, 0) FROM labels WHERE label_set_id = ?1", &[&set_id])?;
            for l in labels {
                let name = l.name.trim();
                if name.is_empty() {
                    return Err(StoreError::Invalid("a label name cannot be empty".into()));
                }
                let exists: bool = tx.one(
                    "SELECT EXISTS(SELECT 1 FROM labels WHERE label_set_id = ?1 AND name = ?2)",
                    &[&set_id, &name],
                )?;
                if exists {
                    continue;
                }
                let parent_id: Option<i64> = match &l.parent {
                    Some(p) => tx
                        .query_opt("SELECT id FROM labels WHERE name = ?1 ORDER BY id LIMIT 1", &[p], |r| r.get(0))?,
                    None => None,
                };
                let hotkey = if pos < 9 { Some((pos + 1).to_string()) } else { None };
                let color = l.color.clone().unwrap_or_else(|| PALETTE[pos as usize % PALETTE.len()].to_string());
                tx.execute(
                    "INSERT INTO labels (label_set_id, name, display_name, position, hotkey, color, parent_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    &[&set_id, &name, &l.display_name, &pos, &hotkey, &color, &parent_id],
                )?;
                pos += 1;
                added += 1;
            }
            Ok(added)
        })
    }

    /// Whether `label` is in `set`.
    pub fn has_label(&self, set: &str, label: &str) -> Result<bool> {
        let set_id = self.label_set_id(set)?;
        self.db().one(
            "SELECT EXISTS(SELECT 1 FROM labels WHERE label_set_id = ?1 AND name = ?2)",
            &[&set_id, &label],
        )
    }
}

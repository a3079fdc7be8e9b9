//! Helpers shared by the integration tests: temp projects, running the binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use yuxuan::domain::{ItemKind, NewItem, NewLabel, TaskKind};
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

/// A fresh image project with `labels` and `n` synthetic items (no files behind them).
pub fn image_project(dir: &Path, labels: &[&str], n: usize) -> (PathBuf, Store) {
    let path = dir.join("test.yuxuan");
    let mut store = Store::create(&path, "test", TaskKind::Image).unwrap();
    store
        .add_labels(
            "class",
            &labels
                .iter()
                .map(|l| NewLabel::named(*l))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let items: Vec<NewItem> = (0..n)
        .map(|i| {
            let mut it = NewItem::new(ItemKind::Image, format!("img/{i:06}.png"));
            it.content_hash = Some(format!("hash{i}"));
            it
        })
        .collect();
    store.insert_items(&items).unwrap();
    (path, store)
}

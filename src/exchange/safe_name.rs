//! Label names and source file names turned into file-system names that are safe everywhere.
//!
//! A safe name is one path component that never escapes its folder (`..`, `a/b`, `C:`),
//! is not a Windows device name (`CON`, `nul.txt`, `COM1`), has no control characters, no
//! trailing dot or space, and fits in 255 bytes with room for a suffix. Non-ASCII letters are
//! kept as they are, so `中文` stays readable. Names that differ only by case, or that become
//! equal once cleaned, are told apart by [`NameAllocator`] with a `~2`, `~3`… suffix, so a
//! dataset unpacked on a case-insensitive file system (macOS, Windows) keeps every class.

use std::collections::{HashMap, HashSet};

/// Longest safe name in bytes, before a collision suffix (file systems allow 255).
pub const MAX_NAME_BYTES: usize = 120;

const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// One safe path component for `name` (not yet unique: see [`NameAllocator`]).
pub fn safe_component(name: &str) -> String {
    let mut s: String = name
        .trim()
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    if s.is_empty() {
        return "_empty".to_string();
    }
    if s.chars().all(|c| c == '.') {
        s = s.replace('.', "_");
    }
    if s.starts_with('.') {
        // Hidden on Unix, and skipped by most dataset walkers.
        s.replace_range(0..1, "_");
    }
    if s.ends_with(['.', ' ']) {
        // Windows drops a trailing dot or space, which would merge `a.` with `a`.
        s.pop();
        s.push('_');
    }
    let stem = s
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end()
        .to_ascii_uppercase();
    if RESERVED.contains(&stem.as_str()) {
        s.insert(0, '_');
    }
    if s.len() > MAX_NAME_BYTES {
        let hash = blake3::hash(name.as_bytes()).to_hex();
        let mut cut = MAX_NAME_BYTES - 9;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('~');
        s.push_str(&hash[..8]);
    }
    s
}

/// A safe file name for a source file: its base name made safe, extension kept (lower-cased
/// extension is left alone; only the stem is shortened when too long).
pub fn safe_file_name(source_path: &str) -> String {
    let base = source_path.rsplit(['/', '\\']).next().unwrap_or("");
    let (stem, ext) = split_ext(base);
    let ext_safe = if ext.is_empty() {
        String::new()
    } else {
        safe_component(ext)
    };
    let ext_ok = !ext.is_empty() && ext_safe == ext && ext.len() <= 10;
    if ext_ok {
        format!("{}.{}", safe_component(stem), ext)
    } else {
        safe_component(base)
    }
}

fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 && i + 1 < name.len() => (&name[..i], &name[i + 1..]),
        _ => (name, ""),
    }
}

/// Hands out unique safe names within one folder. Uniqueness is case-insensitive (Unicode
/// lower case), so names that differ only by case never land on the same file on macOS or
/// Windows.
#[derive(Debug, Default)]
pub struct NameAllocator {
    taken: HashSet<String>,
    by_key: HashMap<String, String>,
}

impl NameAllocator {
    pub fn new() -> Self {
        Self::default()
    }

    /// The unique safe name for a label (the same label always gets the same name).
    pub fn label_dir(&mut self, label: &str) -> String {
        if let Some(n) = self.by_key.get(label) {
            return n.clone();
        }
        let n = self.unique(&safe_component(label));
        self.by_key.insert(label.to_string(), n.clone());
        n
    }

    /// A fresh unique name based on `wanted` (already safe): `wanted`, else `stem~2.ext`, …
    pub fn unique(&mut self, wanted: &str) -> String {
        if self.taken.insert(wanted.to_lowercase()) {
            return wanted.to_string();
        }
        let (stem, ext) = split_ext(wanted);
        for k in 2u64.. {
            let cand = if ext.is_empty() {
                format!("{stem}~{k}")
            } else {
                format!("{stem}~{k}.{ext}")
            };
            if self.taken.insert(cand.to_lowercase()) {
                return cand;
            }
        }
        unreachable!("u64 suffixes run out")
    }

    /// Whether a name (case-insensitively) is already handed out.
    pub fn is_taken(&self, name: &str) -> bool {
        self.taken.contains(&name.to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_safe(s: &str) -> bool {
        !s.is_empty()
            && s != "."
            && s != ".."
            && !s.contains(['/', '\\', ':', '\0'])
            && !s.starts_with('.')
            && !s.ends_with(['.', ' '])
            && s.len() <= 255
    }

    #[test]
    fn hostile_names_become_single_safe_components() {
        for n in [
            "../x",
            "..",
            ".",
            "a/b",
            "a\\b",
            "C:",
            "CON",
            "con",
            "nul.txt",
            "COM1",
            "lpt9.png",
            "",
            "   ",
            "a.",
            "a ",
            ".hidden",
            "x\0y",
            "tab\tname",
            "....",
        ] {
            let s = safe_component(n);
            assert!(is_safe(&s), "{n:?} -> {s:?}");
            let up = s.split('.').next().unwrap().to_ascii_uppercase();
            assert!(!RESERVED.contains(&up.as_str()), "{n:?} -> {s:?}");
        }
        assert_eq!(safe_component("../x"), "_._x");
        assert_eq!(safe_component("a/b"), "a_b");
        assert_eq!(safe_component("CON"), "_CON");
        assert_eq!(safe_component(""), "_empty");
    }

    #[test]
    fn chinese_stays_readable_and_long_names_are_cut_on_char_boundaries() {
        assert_eq!(safe_component("手机号"), "手机号");
        let long = "身份证".repeat(100);
        let s = safe_component(&long);
        assert!(s.len() <= MAX_NAME_BYTES, "{}", s.len());
        assert!(s.starts_with("身份证身份证"));
        let other = format!("{}x", "身份证".repeat(100));
        assert_ne!(
            safe_component(&other),
            s,
            "two long names sharing a prefix stay apart"
        );
    }

    #[test]
    fn case_only_and_cleaned_collisions_get_distinct_names() {
        let mut a = NameAllocator::new();
        let names: Vec<String> = ["Cat", "cat", "CAT", "a/b", "a_b", "Cat"]
            .iter()
            .map(|l| a.label_dir(l))
            .collect();
        assert_eq!(names[0], "Cat");
        assert_eq!(names[5], "Cat", "same label, same name");
        let lower: HashSet<String> = names[..5].iter().map(|n| n.to_lowercase()).collect();
        assert_eq!(lower.len(), 5, "{names:?}");
    }

    #[test]
    fn file_names_keep_their_extension() {
        assert_eq!(safe_file_name("/data/x/photo.JPG"), "photo.JPG");
        assert_eq!(safe_file_name("/data/x/con.png"), "_con.png");
        assert_eq!(safe_file_name("/data/x/..png"), "_.png");
        let mut a = NameAllocator::new();
        assert_eq!(a.unique("a.png"), "a.png");
        assert_eq!(a.unique("A.png"), "A~2.png");
        assert_eq!(a.unique("a.png"), "a~3.png");
    }
}

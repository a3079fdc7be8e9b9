//! Features of form fields and pages for the field-type and industry models: hashed character
//! n-grams (1-3, no segmentation needed for Chinese) of each text source into a fixed number of
//! buckets (the embedding bag's rows), plus dense structural features (tag, input type,
//! maxlength, pattern, options, required) and the bilingual lexicon hits of
//! [`crate::taxonomy`]. Pure functions; the layout is versioned by [`FEATURES_VERSION`].

use crate::domain::FieldRecord;
use crate::taxonomy;

/// Bumped whenever the feature layout changes (recorded in model specs). v2: the taxonomy's
/// region split and card types, and the type a WHATWG `autocomplete` token names (one-hot).
pub const FEATURES_VERSION: u32 = 2;
/// Rows of the embedding bag.
pub const BUCKETS: i64 = 1 << 16;
/// At most this many hashed ids per example.
pub const MAX_IDS: usize = 3000;

/// One example: hashed ids into the embedding bag, and the dense features.
#[derive(Debug, Clone, PartialEq)]
pub struct Featurized {
    pub ids: Vec<i64>,
    pub dense: Vec<f32>,
}

fn fnv1a(tag: u8, s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in std::iter::once(tag).chain(s.bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

fn bucket(tag: u8, s: &str) -> i64 {
    (fnv1a(tag, s) % BUCKETS as u64) as i64
}

/// Character 1..=3-grams of `text` (lower-cased, with boundary marks) hashed with `tag`.
fn push_ngrams(ids: &mut Vec<i64>, tag: u8, text: &str, max_n: usize) {
    let lower = text.to_lowercase();
    let chars: Vec<char> = std::iter::once('^')
        .chain(lower.chars().take(120))
        .chain(std::iter::once('$'))
        .collect();
    let mut buf = String::new();
    for n in 1..=max_n {
        if chars.len() < n {
            break;
        }
        for w in chars.windows(n) {
            if ids.len() >= MAX_IDS {
                return;
            }
            if n == 1 && (w[0] == '^' || w[0] == '$' || w[0].is_whitespace()) {
                continue;
            }
            buf.clear();
            buf.extend(w.iter());
            ids.push(bucket(tag, &buf));
        }
    }
}

/// Word tokens of an attribute value (`user[email]`, `mobilePhone`, `reg_pwd2` -> user, email,
/// mobile, phone, reg, pwd, 2).
pub fn attr_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if c.is_alphanumeric() {
            let boundary = (c.is_uppercase() && prev_lower)
                || (c.is_ascii_digit()
                    && !cur.is_empty()
                    && !cur.chars().last().is_some_and(|l| l.is_ascii_digit()));
            if boundary && !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = c.is_lowercase();
            cur.extend(c.to_lowercase());
        } else {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words.truncate(32);
    words
}

const INPUT_TYPES: &[&[&str]] = &[
    &["text"],
    &["password"],
    &["email"],
    &["tel"],
    &["number", "range"],
    &[
        "date",
        "datetime-local",
        "datetime",
        "time",
        "month",
        "week",
    ],
    &["checkbox"],
    &["radio"],
    &["submit", "image"],
    &["button", "reset"],
    &["file"],
    &["search"],
    &["url"],
];

const TAGS: &[&str] = &["input", "select", "textarea", "button", "textbox"];

/// Number of dense features of a field.
pub fn field_dense_len() -> usize {
    TAGS.len() + INPUT_TYPES.len() + 1 + 10 + 3 * taxonomy::FIELD_TYPES.len()
}

/// The human-readable texts of a field joined (lower-cased), for lexicon matching.
fn human_text(f: &FieldRecord) -> String {
    f.texts().join(" | ").to_lowercase()
}

fn attr_text(f: &FieldRecord) -> String {
    let mut s = String::new();
    for a in [&f.name, &f.id, &f.autocomplete].into_iter().flatten() {
        s.push_str(&attr_words(a).join(" "));
        s.push(' ');
    }
    s
}

/// Features of one field.
pub fn featurize_field(f: &FieldRecord) -> Featurized {
    let mut ids = Vec::with_capacity(256);
    // Human texts share one tag, so 手机号 in a label, placeholder or preceding cell align.
    for t in f.texts() {
        push_ngrams(&mut ids, b'h', t, 3);
    }
    for a in [&f.name, &f.id].into_iter().flatten() {
        push_ngrams(&mut ids, b'a', a, 3);
        for w in attr_words(a) {
            ids.push(bucket(b'w', &w));
        }
    }
    if let Some(a) = &f.autocomplete {
        ids.push(bucket(b'c', a));
    }
    for o in f.options.iter().take(12) {
        push_ngrams(&mut ids, b'o', o, 2);
    }
    if let Some(h) = &f.heading {
        push_ngrams(&mut ids, b'g', h, 2);
    }
    ids.push(bucket(
        b't',
        &format!("{}:{}", f.tag, f.input_type.as_deref().unwrap_or("")),
    ));
    if ids.is_empty() {
        ids.push(bucket(b'e', "empty"));
    }
    ids.truncate(MAX_IDS);

    let mut dense = Vec::with_capacity(field_dense_len());
    dense.extend(TAGS.iter().map(|t| (f.tag == *t) as u8 as f32));
    let it = f.input_type.as_deref().unwrap_or("");
    dense.extend(INPUT_TYPES.iter().map(|g| g.contains(&it) as u8 as f32));
    dense.push(f.required as u8 as f32);
    let ml = f.maxlength.unwrap_or(0);
    let pat = f.pattern.as_deref().unwrap_or("");
    let n_opt = f.options.len() as f32;
    dense.extend([
        f.maxlength.is_some() as u8 as f32,
        (ml == 11) as u8 as f32,
        (ml == 18) as u8 as f32,
        (1..=6).contains(&ml) as u8 as f32,
        ((ml.clamp(0, 100_000) as f32).ln_1p() / 5.0),
        (!pat.is_empty()) as u8 as f32,
        (pat.contains("\\d") || pat.contains("[0-9]")) as u8 as f32,
        (n_opt.ln_1p() / 4.0),
        (n_opt > 0.0) as u8 as f32,
        (!f.texts().is_empty()) as u8 as f32,
    ]);
    dense.extend(taxonomy::field_lexicon_hits(&human_text(f)));
    dense.extend(taxonomy::field_lexicon_hits(&attr_text(f)));
    let auto = f
        .autocomplete
        .as_deref()
        .and_then(taxonomy::autocomplete_type);
    dense.extend(
        taxonomy::FIELD_TYPES
            .iter()
            .map(|t| (auto == Some(t.name)) as u8 as f32),
    );
    debug_assert_eq!(dense.len(), field_dense_len());
    Featurized { ids, dense }
}

/// Number of dense features of a page.
pub fn page_dense_len() -> usize {
    taxonomy::INDUSTRIES.len() + taxonomy::FIELD_TYPES.len()
}

/// Features of a page (or a one-line requirement): its title, headings and field captions.
pub fn featurize_page(texts: &[String]) -> Featurized {
    let mut ids = Vec::with_capacity(512);
    let mut all = String::new();
    for t in texts.iter().take(200) {
        push_ngrams(&mut ids, b'p', t, 3);
        all.push_str(&t.to_lowercase());
        all.push_str(" | ");
    }
    if ids.is_empty() {
        ids.push(bucket(b'e', "empty"));
    }
    ids.truncate(MAX_IDS);
    let mut dense: Vec<f32> = taxonomy::industry_lexicon_counts(&all)
        .into_iter()
        .map(|c| c.ln_1p())
        .collect();
    dense.extend(taxonomy::field_lexicon_hits(&all));
    Featurized { ids, dense }
}

/// Whether a text contains CJK characters (for the Chinese accuracy figures).
pub fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| {
        matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x3040..=0x30FF | 0xF900..=0xFAFF | 0xAC00..=0xD7AF)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_words_split_brackets_camel_case_and_digits() {
        assert_eq!(attr_words("user[email]"), vec!["user", "email"]);
        assert_eq!(attr_words("mobilePhone"), vec!["mobile", "phone"]);
        assert_eq!(attr_words("reg_pwd2"), vec!["reg", "pwd", "2"]);
    }

    #[test]
    fn featurize_is_deterministic_and_sized() {
        let f = FieldRecord {
            tag: "input".into(),
            label: Some("手机号".into()),
            maxlength: Some(11),
            ..Default::default()
        };
        let a = featurize_field(&f);
        assert_eq!(a, featurize_field(&f));
        assert_eq!(a.dense.len(), field_dense_len());
        assert!(a.ids.iter().all(|&i| (0..BUCKETS).contains(&i)));
        let p = featurize_page(&["房产中介客户登记".to_string()]);
        assert_eq!(p.dense.len(), page_dense_len());
        assert!(has_cjk("手机") && !has_cjk("phone"));
    }
}

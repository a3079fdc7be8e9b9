//! H5 page decoding and form field extraction: charset detection (BOM, `<meta charset>` /
//! http-equiv, else chardetng) and decoding with encoding_rs, HTML5 parsing with scraper
//! (html5ever), and one linear, non-recursive walk of the tree that turns every field into a
//! [`FieldRecord`] with the texts a human would read to know what it asks for.
//!
//! Limits keep hostile input cheap: the decoded HTML is cut at [`MAX_HTML_BYTES`], at most
//! [`MAX_FIELDS`] fields are kept per page (the total is reported), texts are cut at
//! [`MAX_TEXT_CHARS`]. Nothing here recurses over the tree, so deeply nested markup cannot
//! overflow the stack.

use std::collections::HashMap;

use ego_tree::iter::Edge;
use ego_tree::{NodeId, NodeRef};
use encoding_rs::Encoding;
use scraper::{Html, Node};
use serde::{Deserialize, Serialize};

use crate::domain::FieldRecord;

/// Decoded HTML beyond this many bytes is cut before parsing (and storing).
pub const MAX_HTML_BYTES: usize = 8 * 1024 * 1024;
/// At most this many fields are kept per page.
pub const MAX_FIELDS: usize = 2000;
/// Texts (labels, preceding text, options) are cut at this many characters.
pub const MAX_TEXT_CHARS: usize = 200;
/// At most this many options are kept per select / radio group.
pub const MAX_OPTIONS: usize = 50;
/// Markup nested deeper than this is cut (the HTML5 tree builder's scope checks walk the open
/// elements, so extreme nesting would make parsing quadratic; browsers cap depth too).
pub const MAX_DEPTH: usize = 1000;

/// Why a page could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("empty page")]
    Empty,
    #[error("binary file, not an HTML page")]
    Binary,
}

/// A page decoded to Unicode.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedPage {
    /// The decoded HTML (cut at [`MAX_HTML_BYTES`]).
    pub html: String,
    /// The encoding used (encoding_rs name, e.g. `UTF-8`, `GBK`, `Big5`).
    pub charset: String,
    /// How the charset was found: `bom`, `meta`, `utf8`, `detected`.
    pub charset_source: &'static str,
    /// Whether the HTML was cut.
    pub truncated: bool,
    /// Whether decoding met malformed byte sequences.
    pub had_errors: bool,
    /// Whether the HTML was cut where its nesting went past [`MAX_DEPTH`].
    pub nesting_truncated: bool,
}

/// A form, or a container grouping bare fields (H5 builders often have no `<form>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FormGroup {
    /// CSS-like path of the form / container.
    pub container: String,
    /// Whether this is a real `<form>` element.
    pub is_form: bool,
    /// Index of the `<form>` among the page's `<form>` elements (document order).
    pub form_element_index: Option<usize>,
    pub action: Option<String>,
    pub method: Option<String>,
    pub id: Option<String>,
    pub name: Option<String>,
}

/// What extraction found in a page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Extracted {
    pub title: Option<String>,
    /// The first headings of the page (for the industry model and display).
    pub headings: Vec<String>,
    pub forms: Vec<FormGroup>,
    /// Fields in page order; `form_index` points into `forms`.
    pub fields: Vec<FieldRecord>,
    /// Fields seen in total (more than `fields.len()` when capped).
    pub total_fields: usize,
}

/// Options of extraction.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractOptions {
    /// Also extract `<input type=hidden>`.
    pub include_hidden: bool,
}

// ---------------------------------------------------------------------------------------------
// Charset

/// Decode page bytes: BOM, then a `<meta charset>` / http-equiv declaration in the first 4 KiB,
/// then valid UTF-8, then chardetng's guess.
pub fn decode(bytes: &[u8]) -> Result<DecodedPage, PageError> {
    decode_with_header(bytes, None)
}

/// [`decode`] for bytes fetched over HTTP: a known `charset` of the `Content-Type` header
/// comes after the BOM and before the page's own declaration (the HTML standard's order).
pub fn decode_with_header(
    bytes: &[u8],
    header_charset: Option<&str>,
) -> Result<DecodedPage, PageError> {
    let header = header_charset.and_then(|c| Encoding::for_label(c.trim().as_bytes()));
    let (enc, source, body): (&'static Encoding, &'static str, &[u8]) =
        if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
            (enc, "bom", &bytes[bom_len..])
        } else if let (Some(enc), false) = (header, looks_binary(bytes)) {
            (enc, "header", bytes)
        } else {
            if looks_binary(bytes) {
                return Err(PageError::Binary);
            }
            if let Some(enc) = meta_charset(&bytes[..bytes.len().min(4096)]) {
                (enc, "meta", bytes)
            } else if std::str::from_utf8(bytes).is_ok() {
                (encoding_rs::UTF_8, "utf8", bytes)
            } else {
                let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
                det.feed(&bytes[..bytes.len().min(1 << 20)], true);
                (
                    det.guess(None, chardetng::Utf8Detection::Allow),
                    "detected",
                    bytes,
                )
            }
        };
    let (text, had_errors) = enc.decode_without_bom_handling(body);
    let mut html = text.into_owned();
    if html.trim().is_empty() {
        return Err(PageError::Empty);
    }
    let truncated = html.len() > MAX_HTML_BYTES;
    if truncated {
        let mut cut = MAX_HTML_BYTES;
        while !html.is_char_boundary(cut) {
            cut -= 1;
        }
        html.truncate(cut);
    }
    let nesting_truncated = match nesting_cut(&html) {
        Some(cut) => {
            html.truncate(cut);
            true
        }
        None => false,
    };
    Ok(DecodedPage {
        html,
        charset: enc.name().to_string(),
        charset_source: source,
        truncated,
        had_errors,
        nesting_truncated,
    })
}

/// Elements that never hold children.
fn is_void(name: &[u8]) -> bool {
    matches!(
        name,
        b"area"
            | b"base"
            | b"br"
            | b"col"
            | b"embed"
            | b"hr"
            | b"img"
            | b"input"
            | b"link"
            | b"meta"
            | b"source"
            | b"track"
            | b"wbr"
            | b"param"
            | b"keygen"
            | b"frame"
            | b"basefont"
            | b"bgsound"
    )
}

/// Elements the tree builder closes implicitly (so an unclosed one does not nest).
fn closes_implicitly(name: &[u8]) -> bool {
    matches!(
        name,
        b"p" | b"li"
            | b"dt"
            | b"dd"
            | b"option"
            | b"optgroup"
            | b"tr"
            | b"td"
            | b"th"
            | b"thead"
            | b"tbody"
            | b"tfoot"
            | b"colgroup"
            | b"caption"
            | b"rb"
            | b"rt"
            | b"rp"
            | b"html"
            | b"head"
            | b"body"
    )
}

/// The byte offset of the start tag where element nesting first goes past [`MAX_DEPTH`],
/// estimated by one linear scan over the tags (comments and raw-text elements skipped). A
/// guard only: fields are extracted from the parsed tree.
fn nesting_cut(html: &str) -> Option<usize> {
    let b = html.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        let lt = i + off;
        i = lt + 1;
        if b[i..].starts_with(b"!--") {
            i = find(&b[i..], b"-->").map(|p| i + p + 3).unwrap_or(b.len());
            continue;
        }
        let closing = b.get(i) == Some(&b'/');
        let start = if closing { i + 1 } else { i };
        let end = b[start..]
            .iter()
            .position(|c| !c.is_ascii_alphanumeric())
            .map(|p| start + p)
            .unwrap_or(b.len());
        if end == start || !b[start].is_ascii_alphabetic() {
            continue;
        }
        let name = b[start..end].to_ascii_lowercase();
        i = end;
        if is_void(&name) || closes_implicitly(&name) {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
            continue;
        }
        if matches!(
            name.as_slice(),
            b"script" | b"style" | b"textarea" | b"title" | b"xmp" | b"noembed" | b"noframes"
        ) {
            let mut close = b"</".to_vec();
            close.extend_from_slice(&name);
            i = b[i..]
                .windows(close.len())
                .position(|w| w.eq_ignore_ascii_case(&close))
                .map(|p| i + p)
                .unwrap_or(b.len());
            continue;
        }
        depth += 1;
        if depth > MAX_DEPTH {
            return Some(lt);
        }
    }
    None
}

/// NUL bytes or many control bytes in the first 8 KiB: not a text file.
fn looks_binary(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(8192)];
    if head.contains(&0) {
        return true;
    }
    let ctrl = head
        .iter()
        .filter(|&&b| b < 0x09 || ((0x0e..0x20).contains(&b) && b != 0x1b))
        .count();
    !head.is_empty() && ctrl * 10 > head.len()
}

/// The encoding declared by a `<meta charset=..>` or `<meta http-equiv content="..; charset=..">`
/// in `head` (a byte scan in the spirit of the HTML prescan; the page is parsed properly later).
fn meta_charset(head: &[u8]) -> Option<&'static Encoding> {
    let lower: Vec<u8> = head.to_ascii_lowercase();
    let mut from = 0;
    while let Some(off) = find(&lower[from..], b"<meta") {
        let start = from + off + 5;
        let end = lower[start..]
            .iter()
            .position(|&b| b == b'>')
            .map(|p| start + p)
            .unwrap_or(lower.len());
        let tag = &lower[start..end];
        if let Some(p) = find(tag, b"charset") {
            let mut i = p + 7;
            while i < tag.len() && (tag[i] == b' ' || tag[i] == b'\t') {
                i += 1;
            }
            if i < tag.len() && tag[i] == b'=' {
                i += 1;
                while i < tag.len() && matches!(tag[i], b' ' | b'\t' | b'"' | b'\'') {
                    i += 1;
                }
                let j = tag[i..]
                    .iter()
                    .position(|&b| matches!(b, b' ' | b'\t' | b'"' | b'\'' | b';' | b'/' | b'>'))
                    .map(|p| i + p)
                    .unwrap_or(tag.len());
                if let Some(enc) = Encoding::for_label(&tag[i..j]) {
                    // A page that says UTF-16 in its meta is really ASCII-compatible (HTML spec).
                    if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
                        return Some(encoding_rs::UTF_8);
                    }
                    return Some(enc);
                }
            }
        }
        from = end.max(start);
        if from >= lower.len() {
            break;
        }
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// Extraction

/// Elements whose text is not visible page text.
fn is_invisible_container(name: &str) -> bool {
    matches!(
        name,
        "script"
            | "style"
            | "noscript"
            | "template"
            | "head"
            | "title"
            | "option"
            | "optgroup"
            | "datalist"
    )
}

/// Elements that end a run of text (block-level boundaries).
fn is_block(name: &str) -> bool {
    matches!(
        name,
        "div"
            | "p"
            | "td"
            | "th"
            | "tr"
            | "li"
            | "ul"
            | "ol"
            | "dl"
            | "dt"
            | "dd"
            | "table"
            | "section"
            | "article"
            | "form"
            | "fieldset"
            | "legend"
            | "br"
            | "hr"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "header"
            | "footer"
            | "main"
            | "nav"
            | "aside"
            | "body"
            | "label"
    )
}

fn is_heading(name: &str) -> bool {
    matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
}

/// Collapse whitespace and cut at [`MAX_TEXT_CHARS`].
pub fn clean_text(s: &str) -> String {
    let mut out = String::new();
    let mut n = 0;
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
            n += 1;
        }
        for c in w.chars() {
            if n >= MAX_TEXT_CHARS {
                return out;
            }
            out.push(c);
            n += 1;
        }
    }
    out
}

fn non_empty(s: String) -> Option<String> {
    if s.is_empty() {
        None
    } else {
        Some(s)
    }
}

/// Visible text under a node (iterative; skips scripts, styles, options), cut at
/// [`MAX_TEXT_CHARS`].
fn text_of(node: NodeRef<'_, Node>) -> String {
    let mut buf = String::new();
    let mut skip = 0usize;
    for edge in node.traverse() {
        match edge {
            Edge::Open(n) => match n.value() {
                Node::Element(e) if is_invisible_container(e.name()) || e.name() == "select" => {
                    skip += 1
                }
                Node::Text(t) if skip == 0 => {
                    buf.push(' ');
                    buf.push_str(t);
                    if buf.len() > MAX_TEXT_CHARS * 8 {
                        break;
                    }
                }
                _ => {}
            },
            Edge::Close(n) => {
                if let Node::Element(e) = n.value() {
                    if is_invisible_container(e.name()) || e.name() == "select" {
                        skip = skip.saturating_sub(1);
                    }
                }
            }
        }
    }
    clean_text(&buf)
}

fn attr(node: NodeRef<'_, Node>, name: &str) -> Option<String> {
    match node.value() {
        Node::Element(e) => e.attr(name).map(clean_text).and_then(non_empty),
        _ => None,
    }
}

fn el_name<'a>(node: &NodeRef<'a, Node>) -> Option<&'a str> {
    match node.value() {
        Node::Element(e) => Some(e.name()),
        _ => None,
    }
}

/// What kind of field an element is, if any.
fn field_tag(node: NodeRef<'_, Node>, opts: ExtractOptions) -> Option<&'static str> {
    let Node::Element(e) = node.value() else {
        return None;
    };
    match e.name() {
        "input" => {
            let t = e.attr("type").map(|t| t.trim().to_ascii_lowercase());
            if t.as_deref() == Some("hidden") && !opts.include_hidden {
                None
            } else {
                Some("input")
            }
        }
        "select" => Some("select"),
        "textarea" => Some("textarea"),
        "button" => Some("button"),
        _ => {
            let editable = e
                .attr("contenteditable")
                .map(|v| !v.trim().eq_ignore_ascii_case("false"));
            let textbox = e
                .attr("role")
                .map(|r| r.trim().eq_ignore_ascii_case("textbox"));
            if editable == Some(true) || textbox == Some(true) {
                Some("textbox")
            } else {
                None
            }
        }
    }
}

/// A short CSS-like selector of one element: `div#app`, `div.form-box`, `form`.
fn selector_of(node: NodeRef<'_, Node>) -> String {
    let Node::Element(e) = node.value() else {
        return String::new();
    };
    let mut s = e.name().to_string();
    if let Some(id) = e.id().filter(|i| !i.is_empty() && i.len() < 60) {
        s.push('#');
        s.push_str(id);
    } else if let Some(c) = e.classes().next().filter(|c| c.len() < 60) {
        s.push('.');
        s.push_str(c);
    }
    s
}

/// A CSS-like path of a container (at most 6 levels, innermost last).
fn path_of(node: NodeRef<'_, Node>) -> String {
    let mut parts = vec![selector_of(node)];
    let mut cur = node.parent();
    while let Some(p) = cur {
        match el_name(&p) {
            Some("html") | None => break,
            Some(_) => {
                if parts.len() >= 6 {
                    parts.push("…".into());
                    break;
                }
                parts.push(selector_of(p));
            }
        }
        cur = p.parent();
    }
    parts.reverse();
    parts.join(" > ")
}

/// The container grouping a field outside any `<form>`: the nearest fieldset or element whose
/// id/class mentions "form", else the child of `<body>` holding it.
fn bare_container(node: NodeRef<'_, Node>) -> NodeRef<'_, Node> {
    let mut cur = node.parent();
    let mut last_el = node;
    let mut steps = 0;
    while let Some(p) = cur {
        steps += 1;
        if let Node::Element(e) = p.value() {
            if matches!(e.name(), "body" | "html") {
                return last_el;
            }
            if e.name() == "fieldset" {
                return p;
            }
            let mentions = e
                .id()
                .is_some_and(|i| i.to_ascii_lowercase().contains("form"))
                || e.classes().any(|c| c.to_ascii_lowercase().contains("form"));
            if mentions && steps < 64 {
                return p;
            }
            last_el = p;
        }
        cur = p.parent();
    }
    last_el
}

struct Ctx<'a> {
    /// `<label for=id>` texts.
    label_for: HashMap<String, String>,
    /// First element of each id (for aria-labelledby).
    by_id: HashMap<String, NodeRef<'a, Node>>,
}

/// Parse the decoded HTML and extract every field.
pub fn extract(html: &str, opts: ExtractOptions) -> Extracted {
    let doc = Html::parse_document(html);
    extract_doc(&doc, opts)
}

fn extract_doc(doc: &Html, opts: ExtractOptions) -> Extracted {
    let root = doc.tree.root();
    // Pass 1: label[for], ids, title, form elements.
    let mut cx = Ctx {
        label_for: HashMap::new(),
        by_id: HashMap::new(),
    };
    let mut title = None;
    let mut form_ids: HashMap<NodeId, usize> = HashMap::new();
    for n in root.descendants() {
        let Node::Element(e) = n.value() else {
            continue;
        };
        if let Some(id) = e.id() {
            if cx.by_id.len() < 100_000 {
                cx.by_id.entry(id.to_string()).or_insert(n);
            }
        }
        match e.name() {
            "label" => {
                if let Some(f) = e.attr("for") {
                    if cx.label_for.len() < 100_000 && !cx.label_for.contains_key(f) {
                        let t = text_of(n);
                        if !t.is_empty() {
                            cx.label_for.insert(f.to_string(), t);
                        }
                    }
                }
            }
            "title" if title.is_none() => title = non_empty(text_of_raw(n)),
            "form" => {
                let k = form_ids.len();
                form_ids.insert(n.id(), k);
            }
            _ => {}
        }
    }

    // Pass 2: document order walk with preceding text and headings.
    let mut out = Extracted {
        title,
        ..Default::default()
    };
    let mut group_of: HashMap<NodeId, usize> = HashMap::new();
    let mut radio_of: HashMap<(usize, String), usize> = HashMap::new();
    let mut invisible = 0usize;
    let mut in_field = 0usize;
    let mut in_heading = 0usize;
    let mut heading_buf = String::new();
    let mut current_heading: Option<String> = None;
    let mut pending = String::new();
    let mut last_text: Option<String> = None;
    let mut form_stack: Vec<NodeId> = Vec::new();

    for edge in root.traverse() {
        match edge {
            Edge::Open(n) => match n.value() {
                Node::Element(e) => {
                    let name = e.name();
                    if is_invisible_container(name) {
                        invisible += 1;
                        continue;
                    }
                    if is_block(name) && !pending.trim().is_empty() {
                        last_text = non_empty(clean_text(&pending));
                        pending.clear();
                    }
                    if name == "form" {
                        form_stack.push(n.id());
                    }
                    if is_heading(name) {
                        in_heading += 1;
                        heading_buf.clear();
                    }
                    if invisible == 0 && in_field == 0 {
                        if let Some(tag) = field_tag(n, opts) {
                            let prec = if pending.trim().is_empty() {
                                last_text.take()
                            } else {
                                non_empty(clean_text(&pending))
                            };
                            pending.clear();
                            last_text = None;
                            out.total_fields += 1;
                            if out.fields.len() < MAX_FIELDS {
                                add_field(
                                    &mut out,
                                    &cx,
                                    n,
                                    tag,
                                    prec,
                                    current_heading.clone(),
                                    form_stack.last().copied(),
                                    &form_ids,
                                    &mut group_of,
                                    &mut radio_of,
                                );
                            }
                        }
                    }
                    if field_tag(n, opts).is_some()
                        || matches!(name, "select" | "textarea" | "button")
                    {
                        in_field += 1;
                    }
                }
                Node::Text(t) if invisible == 0 && in_field == 0 => {
                    if in_heading > 0 && heading_buf.len() < MAX_TEXT_CHARS * 4 {
                        heading_buf.push(' ');
                        heading_buf.push_str(t);
                    }
                    if pending.len() < MAX_TEXT_CHARS * 8 {
                        pending.push(' ');
                        pending.push_str(t);
                    }
                }
                _ => {}
            },
            Edge::Close(n) => {
                if let Node::Element(e) = n.value() {
                    let name = e.name();
                    if is_invisible_container(name) {
                        invisible = invisible.saturating_sub(1);
                        continue;
                    }
                    if field_tag(n, opts).is_some()
                        || matches!(name, "select" | "textarea" | "button")
                    {
                        in_field = in_field.saturating_sub(1);
                    }
                    if is_heading(name) {
                        in_heading = in_heading.saturating_sub(1);
                        let h = clean_text(&heading_buf);
                        if !h.is_empty() {
                            if out.headings.len() < 20 {
                                out.headings.push(h.clone());
                            }
                            current_heading = Some(h);
                        }
                    }
                    if name == "form" {
                        form_stack.pop();
                    }
                    if is_block(name) && !pending.trim().is_empty() {
                        last_text = non_empty(clean_text(&pending));
                        pending.clear();
                    }
                }
            }
        }
    }
    out
}

/// Text of a `<title>` (its only child is text; `text_of` skips title contents).
fn text_of_raw(node: NodeRef<'_, Node>) -> String {
    let mut buf = String::new();
    for c in node.children() {
        if let Node::Text(t) = c.value() {
            buf.push_str(t);
        }
    }
    clean_text(&buf)
}

#[allow(clippy::too_many_arguments)]
fn add_field<'a>(
    out: &mut Extracted,
    cx: &Ctx<'a>,
    n: NodeRef<'a, Node>,
    tag: &str,
    preceding: Option<String>,
    heading: Option<String>,
    form: Option<NodeId>,
    form_ids: &HashMap<NodeId, usize>,
    group_of: &mut HashMap<NodeId, usize>,
    radio_of: &mut HashMap<(usize, String), usize>,
) {
    let Node::Element(e) = n.value() else { return };
    // The group: the enclosing <form>, else the nearest container.
    let (group_node, is_form) = match form.and_then(|id| doc_node(n, id)) {
        Some(f) => (f, true),
        None => (bare_container(n), false),
    };
    let form_index = *group_of.entry(group_node.id()).or_insert_with(|| {
        out.forms.push(FormGroup {
            container: path_of(group_node),
            is_form,
            form_element_index: if is_form {
                form_ids.get(&group_node.id()).copied()
            } else {
                None
            },
            action: attr(group_node, "action"),
            method: attr(group_node, "method").map(|m| m.to_ascii_lowercase()),
            id: attr(group_node, "id"),
            name: attr(group_node, "name"),
        });
        out.forms.len() - 1
    });

    let input_type = match tag {
        "input" => Some(
            e.attr("type")
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .unwrap_or("text".into()),
        ),
        "button" => Some(
            e.attr("type")
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .unwrap_or("submit".into()),
        ),
        _ => None,
    };
    let name = attr(n, "name");
    let id = attr(n, "id");

    // Label: <label for=id>, else the wrapping <label>.
    let mut label = id
        .as_ref()
        .and_then(|i| {
            e.id()
                .and_then(|raw| cx.label_for.get(raw).or_else(|| cx.label_for.get(i)))
        })
        .cloned();
    if label.is_none() {
        let mut cur = n.parent();
        let mut steps = 0;
        while let Some(p) = cur {
            steps += 1;
            if steps > 32 {
                break;
            }
            if el_name(&p) == Some("label") {
                label = non_empty(text_of(p));
                break;
            }
            if el_name(&p) == Some("form") || el_name(&p) == Some("body") {
                break;
            }
            cur = p.parent();
        }
    }
    let mut aria_label = attr(n, "aria-label");
    if aria_label.is_none() {
        if let Some(ids) = e.attr("aria-labelledby") {
            let t: Vec<String> = ids
                .split_whitespace()
                .take(8)
                .filter_map(|i| cx.by_id.get(i))
                .map(|node| text_of(*node))
                .filter(|t| !t.is_empty())
                .collect();
            aria_label = non_empty(clean_text(&t.join(" ")));
        }
    }
    let value = match tag {
        "button" => non_empty(text_of(n)).or_else(|| attr(n, "value")),
        "input"
            if matches!(
                input_type.as_deref(),
                Some("submit" | "button" | "reset" | "image")
            ) =>
        {
            attr(n, "value").or_else(|| attr(n, "alt"))
        }
        "textbox" => non_empty(text_of(n)),
        _ => None,
    };
    let mut options = Vec::new();
    if tag == "select" {
        for d in n.descendants() {
            if el_name(&d) == Some("option") {
                let t = text_of_raw(d);
                let t = if t.is_empty() {
                    attr(d, "value").unwrap_or_default()
                } else {
                    t
                };
                if !t.is_empty() {
                    options.push(t);
                }
                if options.len() >= MAX_OPTIONS {
                    break;
                }
            }
        }
    }
    let maxlength = e
        .attr("maxlength")
        .and_then(|m| m.trim().parse::<i64>().ok());
    let position = out.fields.len();
    let mut rec = FieldRecord {
        tag: tag.to_string(),
        input_type,
        name,
        id,
        label,
        aria_label,
        placeholder: attr(n, "placeholder"),
        title: attr(n, "title"),
        autocomplete: attr(n, "autocomplete").map(|a| a.to_ascii_lowercase()),
        pattern: attr(n, "pattern"),
        maxlength,
        required: e.attr("required").is_some()
            || e.attr("aria-required").is_some_and(|v| v.trim() == "true"),
        value,
        options,
        preceding_text: preceding,
        heading,
        form_index,
        container: out.forms[form_index].container.clone(),
        position,
        form_element_index: if is_form {
            form_ids.get(&group_node.id()).copied()
        } else {
            None
        },
    };
    // Radio buttons and checkboxes sharing a name in one group are one field whose options are
    // the choices.
    if matches!(rec.input_type.as_deref(), Some("radio" | "checkbox")) {
        // The choice's text: its <label>, else the text right after it ("<input
        // type=radio>男"), else its value.
        let choice = rec
            .label
            .clone()
            .or_else(|| following_text(n))
            .or_else(|| attr(n, "value"));
        if let Some(nm) = rec.name.clone() {
            if let Some(&existing) = radio_of.get(&(form_index, nm.clone())) {
                let f = &mut out.fields[existing];
                if let Some(c) = choice {
                    if f.options.len() < MAX_OPTIONS {
                        f.options.push(c);
                    }
                }
                return;
            }
            radio_of.insert((form_index, nm), position);
        }
        if rec.input_type.as_deref() == Some("radio") {
            if let Some(c) = choice {
                rec.options.push(c);
            }
            // The group's question is the text before the first choice, not the choice label.
            if rec.preceding_text.is_some() {
                rec.label = None;
            }
        }
    }
    out.fields.push(rec);
}

/// The text right after a radio button or checkbox, up to the next control, label or block
/// (`<input type=radio name=sex value=1>男` -> "男"): what the user reads as its choice.
fn following_text(n: NodeRef<'_, Node>) -> Option<String> {
    let mut out = String::new();
    for sib in n.next_siblings() {
        match sib.value() {
            Node::Text(t) => out.push_str(t),
            Node::Element(e) => {
                if matches!(
                    e.name(),
                    "input"
                        | "select"
                        | "textarea"
                        | "button"
                        | "label"
                        | "br"
                        | "div"
                        | "p"
                        | "li"
                        | "ul"
                        | "ol"
                        | "tr"
                        | "td"
                        | "table"
                        | "form"
                ) || is_invisible_container(e.name())
                {
                    break;
                }
                out.push(' ');
                out.push_str(&text_of(sib));
            }
            _ => {}
        }
        if out.chars().count() > MAX_TEXT_CHARS {
            break;
        }
    }
    non_empty(clean_text(&out))
}

/// The node with `id` in the same tree as `n`.
fn doc_node<'a>(n: NodeRef<'a, Node>, id: NodeId) -> Option<NodeRef<'a, Node>> {
    n.tree().get(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_charset_forms() {
        assert_eq!(
            meta_charset(b"<meta charset=\"gbk\">").map(|e| e.name()),
            Some("GBK")
        );
        assert_eq!(
            meta_charset(b"<META http-equiv='Content-Type' content='text/html; charset=big5'>")
                .map(|e| e.name()),
            Some("Big5")
        );
        assert_eq!(meta_charset(b"<meta name=x content=y>"), None);
        assert_eq!(
            meta_charset(b"<meta charset=utf-16>").map(|e| e.name()),
            Some("UTF-8")
        );
    }

    #[test]
    fn decode_bom_gbk_binary_empty() {
        let (gbk, _, _) = encoding_rs::GBK.encode("<p>手机号</p><input name=tel>");
        let d = decode(&gbk).unwrap();
        assert!(
            d.html.contains("手机号"),
            "{} via {}",
            d.charset,
            d.charset_source
        );
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice("<p>姓名</p>".as_bytes());
        let d = decode(&bom).unwrap();
        assert_eq!((d.charset.as_str(), d.charset_source), ("UTF-8", "bom"));
        assert_eq!(
            decode(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Err(PageError::Binary)
        );
        assert_eq!(decode(b"  \n "), Err(PageError::Empty));
    }

    #[test]
    fn deep_nesting_is_cut_at_max_depth() {
        let deep = format!(
            "<input name=a>{}x{}",
            "<div>".repeat(5000),
            "</div>".repeat(5000)
        );
        let d = decode(deep.as_bytes()).unwrap();
        assert!(d.nesting_truncated);
        assert!(d.html.len() < deep.len());
        let flat = "<p>x".repeat(5000) + &"<div></div>".repeat(5000);
        assert!(!decode(flat.as_bytes()).unwrap().nesting_truncated);
        let x = extract(&d.html, ExtractOptions::default());
        assert_eq!(x.fields.len(), 1);
    }

    #[test]
    fn preceding_text_across_table_cells_and_radio_groups() {
        let x = extract(
            "<table><tr><td>手机号码</td><td><input name=m maxlength=11></td></tr>\
             <tr><td>性别</td><td><input type=radio name=sex value=1>男<input type=radio name=sex value=2>女</td></tr></table>",
            ExtractOptions::default(),
        );
        assert_eq!(x.fields.len(), 2);
        assert_eq!(x.fields[0].preceding_text.as_deref(), Some("手机号码"));
        assert_eq!(x.fields[0].maxlength, Some(11));
        assert_eq!(x.fields[1].preceding_text.as_deref(), Some("性别"));
        // The choices are what the user reads, not the submitted values.
        assert_eq!(x.fields[1].options, vec!["男", "女"]);
        // A value still stands in when nothing follows the button.
        let y = extract(
            "<form>婚否 <input type=radio name=m value=yes><input type=radio name=m value=no></form>",
            ExtractOptions::default(),
        );
        assert_eq!(y.fields[0].options, vec!["yes", "no"]);
    }
}

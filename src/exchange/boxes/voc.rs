//! Pascal VOC XML, one `<annotation>` per image.
//!
//! Corners are 1-based and inclusive: a box `x, y, w, h` in pixels is `xmin = x + 1`,
//! `ymin = y + 1`, `xmax = x + w`, `ymax = y + h`, as the VOC devkit and detectron2 read them.
//! Reading accepts fractional corners (labelme writes them); writing rounds each edge to whole
//! pixels (`xmin = round(x) + 1`, `xmax = round(x + w)`, at least one pixel wide), so a round
//! trip moves each edge by at most half a pixel. Files written 0-based by some tools (e.g.
//! PaddleLabel, labelme) therefore read one pixel left and up of where they meant, within the
//! 1-pixel tolerance the format has anyway.
//!
//! Reads a folder (`Annotations/*.xml`, else the `.xml` files in it) or one `.xml`. The image is
//! `JPEGImages/<filename>` (else `<filename>` beside the XML); the size is `<size>`, or the image
//! header when `<size>` is missing or zero. Labels come in the order of `labels.txt` or
//! `class_names.txt` when the folder has one, then as met. Splits come from
//! `ImageSets/Main/{train,val,test}.txt` (image ids) or PaddleDetection-style
//! `{train,val,test}[_list].txt` (`JPEGImages/1.jpg Annotations/1.xml`). An `<object>` may carry
//! a `<score>`: a prediction.
//!
//! Writes `Annotations/<stem>.xml`, `labels.txt` and, with splits, `ImageSets/Main/<split>.txt`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use quick_xml::escape::escape;
use quick_xml::events::Event;

use super::{
    fit_box, image_size, label_list_text, list_files, note_label, read_label_list, read_text,
    relative_to, write_file, BoxDataset, BoxFormatError, ImageBoxes, LabeledBox, Result, Split,
};
use crate::domain::BBox;

/// A parsed XML element (enough of XML for VOC and Label Studio configs).
#[derive(Debug, Clone, Default)]
pub(crate) struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }
    /// Trimmed text of the first child `name`, `None` when missing or empty.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.trim())
            .filter(|t| !t.is_empty())
    }
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// Every descendant (depth first) named `name`.
    pub fn descendants<'a>(&'a self, name: &str, out: &mut Vec<&'a Element>) {
        for c in &self.children {
            if c.name == name {
                out.push(c);
            }
            c.descendants(name, out);
        }
    }
}

/// Parse an XML document into its root element; the error says the line.
pub(crate) fn parse_xml(text: &str) -> Result<Element, String> {
    let mut reader = quick_xml::Reader::from_str(text);
    let line_at = |pos: u64| text[..(pos as usize).min(text.len())].matches('\n').count() + 1;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let open = |e: &quick_xml::events::BytesStart<'_>| -> Result<Element, String> {
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        let mut attrs = Vec::new();
        for a in e.attributes() {
            let a = a.map_err(|err| format!("bad attribute: {err}"))?;
            let k = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|err| format!("bad attribute value: {err}"))?
                .into_owned();
            attrs.push((k, v));
        }
        Ok(Element {
            name,
            attrs,
            ..Default::default()
        })
    };
    loop {
        let pos = reader.buffer_position();
        let ev = reader
            .read_event()
            .map_err(|e| format!("line {}: not well-formed XML: {e}", line_at(pos)))?;
        let close = |el: Element, stack: &mut Vec<Element>, root: &mut Option<Element>| match stack
            .last_mut()
        {
            Some(parent) => parent.children.push(el),
            None => {
                if root.is_none() {
                    *root = Some(el);
                }
            }
        };
        match ev {
            Event::Start(e) => {
                let el = open(&e).map_err(|m| format!("line {}: {m}", line_at(pos)))?;
                stack.push(el);
            }
            Event::Empty(e) => {
                let el = open(&e).map_err(|m| format!("line {}: {m}", line_at(pos)))?;
                close(el, &mut stack, &mut root);
            }
            Event::End(_) => {
                if let Some(el) = stack.pop() {
                    close(el, &mut stack, &mut root);
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    let s = t
                        .xml10_content()
                        .map_err(|e| format!("line {}: {e}", line_at(pos)))?;
                    top.text.push_str(&s);
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&t.into_inner()));
                }
            }
            Event::GeneralRef(r) => {
                if let Some(top) = stack.last_mut() {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        top.text.push(c);
                    } else {
                        let name = String::from_utf8_lossy(&r).into_owned();
                        match name.as_str() {
                            "amp" => top.text.push('&'),
                            "lt" => top.text.push('<'),
                            "gt" => top.text.push('>'),
                            "quot" => top.text.push('"'),
                            "apos" => top.text.push('\''),
                            other => {
                                top.text.push('&');
                                top.text.push_str(other);
                                top.text.push(';');
                            }
                        }
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(format!(
            "not well-formed XML: <{}> is never closed",
            stack.last().map(|e| e.name.as_str()).unwrap_or("")
        ));
    }
    root.ok_or_else(|| "no XML element".to_string())
}

/// Whether `path` is an XML file whose root element is `<annotation>` (or, when it is not
/// well-formed, that at least opens one: reading it then says what is wrong).
pub(crate) fn looks_like_voc(path: &Path) -> bool {
    let Ok(t) = read_text(path) else {
        return false;
    };
    match parse_xml(&t) {
        Ok(r) => r.name == "annotation",
        Err(_) => t.contains("<annotation>"),
    }
}

/// Read VOC files (see the module docs).
pub fn read(path: &Path) -> Result<BoxDataset> {
    let (files, root) = if path.is_file() {
        let parent = path.parent().unwrap_or(Path::new("."));
        let root = if parent.file_name().is_some_and(|n| n == "Annotations") {
            parent.parent().unwrap_or(parent)
        } else {
            parent
        };
        (vec![path.to_path_buf()], root.to_path_buf())
    } else {
        let ann = path.join("Annotations");
        let files = if ann.is_dir() {
            list_files(&ann, &["xml"])
        } else {
            list_files(path, &["xml"])
                .into_iter()
                .filter(|f| looks_like_voc(f))
                .collect()
        };
        if files.is_empty() {
            return Err(BoxFormatError::invalid(
                path,
                None,
                "no Pascal VOC .xml here or in Annotations/",
            ));
        }
        (files, path.to_path_buf())
    };
    let mut ds = BoxDataset::default();
    for n in ["labels.txt", "class_names.txt"] {
        let p = root.join(n);
        if p.is_file() {
            ds.labels = read_label_list(&p)?;
            break;
        }
    }
    let splits = read_splits(&root)?;
    for f in &files {
        let mut img = read_one(f, &root, &mut ds.labels)?;
        let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        img.split = splits.get(stem).copied();
        ds.images.push(img);
    }
    Ok(ds)
}

/// Image id (annotation stem) to split, from `ImageSets/Main` or root list files.
fn read_splits(root: &Path) -> Result<HashMap<String, Split>> {
    let mut out = HashMap::new();
    let mut lists: Vec<(PathBuf, Split)> = Vec::new();
    for s in Split::ALL {
        let p = root.join("ImageSets/Main").join(format!("{s}.txt"));
        if p.is_file() {
            lists.push((p, s));
        }
    }
    for p in list_files(root, &["txt"]) {
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let stem = stem.strip_suffix("_list").unwrap_or(stem);
        if let Some(s) = Split::parse(stem) {
            lists.push((p, s));
        }
    }
    for (p, s) in lists {
        for line in read_text(&p)?.lines() {
            let toks: Vec<&str> = line.split_whitespace().collect();
            let Some(first) = toks.first() else { continue };
            let named = toks.iter().find(|t| t.ends_with(".xml")).unwrap_or(first);
            let id = super::stem(super::file_name(named)).to_string();
            out.entry(id).or_insert(s);
        }
    }
    Ok(out)
}

fn num(file: &Path, what: &str, s: Option<&str>) -> Result<f64> {
    let s = s.ok_or_else(|| BoxFormatError::invalid(file, None, format!("{what} is missing")))?;
    s.parse::<f64>()
        .map_err(|_| BoxFormatError::invalid(file, None, format!("{what} `{s}` is not a number")))
}

fn read_one(file: &Path, root: &Path, labels: &mut Vec<String>) -> Result<ImageBoxes> {
    let text = read_text(file)?;
    let doc = parse_xml(&text).map_err(|m| BoxFormatError::invalid(file, None, m))?;
    if doc.name != "annotation" {
        return Err(BoxFormatError::invalid(
            file,
            None,
            format!("root element is <{}>, not <annotation>", doc.name),
        ));
    }
    let xml_dir = file.parent().unwrap_or(Path::new("."));
    let name = doc
        .child_text("filename")
        .ok_or_else(|| BoxFormatError::invalid(file, None, "<filename> is missing"))?;
    let image = [
        root.join("JPEGImages").join(name),
        xml_dir.join(name),
        root.join(name),
    ]
    .into_iter()
    .find(|p| p.is_file());
    let rel = match &image {
        Some(p) => relative_to(root, p),
        None if root.join("JPEGImages").is_dir() || xml_dir != root => {
            format!("JPEGImages/{name}")
        }
        None => name.to_string(),
    };
    let size = doc.child("size");
    let dim = |k: &str| {
        size.and_then(|s| s.child_text(k))
            .and_then(|t| t.parse::<f64>().ok())
            .filter(|v| *v >= 1.0 && *v <= u32::MAX as f64)
            .map(|v| v.round() as u32)
    };
    let (w, h) = match (dim("width"), dim("height")) {
        (Some(w), Some(h)) => {
            if let Some(p) = &image {
                super::check_size(file, "<size>", (w, h), p)?;
            }
            (w, h)
        }
        _ => match &image {
            Some(p) => image_size(p)?,
            None => {
                return Err(BoxFormatError::invalid(
                    file,
                    None,
                    format!("<size> is missing or zero and the image {name} is not there"),
                ))
            }
        },
    };
    let mut img = ImageBoxes::new(rel, w, h);
    for (i, o) in doc.children_named("object").enumerate() {
        let label = o.child_text("name").ok_or_else(|| {
            BoxFormatError::invalid(file, None, format!("object {}: <name> is missing", i + 1))
        })?;
        let what = |k: &str| format!("object {} ({label}): <{k}>", i + 1);
        let bb = o.child("bndbox").ok_or_else(|| {
            BoxFormatError::invalid(file, None, format!("{} is missing", what("bndbox")))
        })?;
        let c = |k: &str| num(file, &what(k), bb.child_text(k));
        let (xmin, ymin, xmax, ymax) = (c("xmin")?, c("ymin")?, c("xmax")?, c("ymax")?);
        let bbox = BBox::new(xmin - 1.0, ymin - 1.0, xmax - xmin + 1.0, ymax - ymin + 1.0);
        let bbox = fit_box(bbox, w, h).map_err(|m| {
            BoxFormatError::invalid(
                file,
                None,
                format!(
                    "object {} ({label}): corners {xmin},{ymin} to {xmax},{ymax}: {m}",
                    i + 1
                ),
            )
        })?;
        let score = match o.child_text("score") {
            Some(s) => Some(num(file, &what("score"), Some(s))?),
            None => None,
        };
        note_label(labels, label);
        img.boxes.push(LabeledBox {
            label: label.to_string(),
            bbox,
            score,
        });
    }
    Ok(img)
}

/// The VOC XML of one image.
fn xml_of(img: &ImageBoxes) -> String {
    let mut s = String::from("<annotation>\n  <folder>JPEGImages</folder>\n");
    s.push_str(&format!(
        "  <filename>{}</filename>\n  <size>\n    <width>{}</width>\n    <height>{}</height>\n    <depth>3</depth>\n  </size>\n  <segmented>0</segmented>\n",
        escape(img.file_name()),
        img.width,
        img.height
    ));
    for b in &img.boxes {
        let x1 = b.bbox.x.round();
        let y1 = b.bbox.y.round();
        let x2 = b.bbox.x2().round().max(x1 + 1.0);
        let y2 = b.bbox.y2().round().max(y1 + 1.0);
        s.push_str(&format!(
            "  <object>\n    <name>{}</name>\n    <pose>Unspecified</pose>\n    <truncated>0</truncated>\n    <difficult>0</difficult>\n    <bndbox>\n      <xmin>{}</xmin>\n      <ymin>{}</ymin>\n      <xmax>{}</xmax>\n      <ymax>{}</ymax>\n    </bndbox>\n",
            escape(b.label.as_str()),
            x1 as i64 + 1,
            y1 as i64 + 1,
            x2 as i64,
            y2 as i64
        ));
        if let Some(score) = b.score {
            s.push_str(&format!("    <score>{score}</score>\n"));
        }
        s.push_str("  </object>\n");
    }
    s.push_str("</annotation>\n");
    s
}

/// Write `Annotations/`, `labels.txt` and `ImageSets/Main/`; returns the files written.
pub(crate) fn write(ds: &BoxDataset, out: &Path) -> Result<Vec<String>> {
    let mut written = Vec::new();
    let mut stems = std::collections::HashSet::new();
    for img in &ds.images {
        if !stems.insert(img.stem().to_string()) {
            return Err(BoxFormatError::Write {
                format: super::BoxFormat::Voc,
                message: format!(
                    "two images share the name {}: VOC names annotations by it",
                    img.stem()
                ),
            });
        }
    }
    for img in &ds.images {
        written.push(write_file(
            out,
            &format!("Annotations/{}.xml", img.stem()),
            xml_of(img).as_bytes(),
        )?);
    }
    written.push(write_file(
        out,
        "labels.txt",
        label_list_text(&ds.labels).as_bytes(),
    )?);
    if ds.has_splits() {
        for s in Split::ALL {
            let ids: String = ds
                .images
                .iter()
                .filter(|i| i.split == Some(s))
                .map(|i| format!("{}\n", i.stem()))
                .collect();
            if !ids.is_empty() {
                written.push(write_file(
                    out,
                    &format!("ImageSets/Main/{s}.txt"),
                    ids.as_bytes(),
                )?);
            }
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;

    const XML: &str = r#"<?xml version="1.0"?>
<annotation>
  <folder>VOC2012</folder>
  <filename>x.jpg</filename>
  <size><width>500</width><height>375</height><depth>3</depth></size>
  <object>
    <name>tv/monitor &amp; more</name>
    <difficult>0</difficult>
    <bndbox><xmin>1</xmin><ymin>2</ymin><xmax>100</xmax><ymax>375.0</ymax></bndbox>
  </object>
  <object>
    <name>person</name>
    <bndbox><xmin>10.5</xmin><ymin>20</ymin><xmax>501</xmax><ymax>40</ymax></bndbox>
  </object>
</annotation>
"#;

    #[test]
    fn reads_one_based_inclusive_corners() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("Annotations")).unwrap();
        std::fs::create_dir_all(dir.path().join("ImageSets/Main")).unwrap();
        std::fs::write(dir.path().join("Annotations/x.xml"), XML).unwrap();
        std::fs::write(dir.path().join("ImageSets/Main/val.txt"), "x\n").unwrap();
        assert_eq!(BoxFormat::detect(dir.path()), Some(BoxFormat::Voc));
        let ds = read(dir.path()).unwrap();
        assert_eq!(ds.labels, ["tv/monitor & more", "person"]);
        let x = &ds.images[0];
        assert_eq!(x.file, "JPEGImages/x.jpg");
        assert_eq!((x.width, x.height), (500, 375));
        assert_eq!(x.split, Some(Split::Val));
        assert_eq!(x.boxes[0].bbox, BBox::new(0.0, 1.0, 100.0, 374.0));
        // xmax 501 on a 500-wide image: one pixel past the edge, clipped.
        assert_eq!(x.boxes[1].bbox, BBox::new(9.5, 19.0, 490.5, 21.0));
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.xml");
        std::fs::write(&f, XML.replace("<xmin>1</xmin>", "<xmin>one</xmin>")).unwrap();
        let e = read(&f).unwrap_err().to_string();
        assert!(
            e.contains("x.xml: object 1 (tv/monitor & more): <xmin> `one` is not a number"),
            "{e}"
        );
        std::fs::write(&f, XML.replace("<xmax>100</xmax>", "<xmax>-50</xmax>")).unwrap();
        let e = read(&f).unwrap_err().to_string();
        assert!(e.contains("negative width"), "{e}");
        std::fs::write(&f, XML.replace("</annotation>", "")).unwrap();
        let e = read(&f).unwrap_err().to_string();
        assert!(e.contains("x.xml: ") && e.contains("never closed"), "{e}");
        // <size> must be the image's when the image is there.
        std::fs::write(&f, XML).unwrap();
        png(&dir.path().join("x.jpg"), 40, 30);
        let e = read(&f).unwrap_err().to_string();
        assert!(
            e.contains("x.xml: <size> says 500x375 but the image") && e.contains("is 40x30"),
            "{e}"
        );
    }

    #[test]
    fn writes_integer_corners_and_image_sets() {
        let ds = sample();
        let dir = tempfile::tempdir().unwrap();
        let sum = write(&ds, BoxFormat::Voc, dir.path(), &WriteOptions::default()).unwrap();
        assert_eq!(
            sum.files,
            [
                "Annotations/a.xml",
                "Annotations/b.xml",
                "Annotations/c.xml",
                "ImageSets/Main/test.txt",
                "ImageSets/Main/train.txt",
                "ImageSets/Main/val.txt",
                "labels.txt"
            ]
        );
        let a = std::fs::read_to_string(dir.path().join("Annotations/a.xml")).unwrap();
        assert!(a.contains("<xmin>1</xmin>\n      <ymin>1</ymin>\n      <xmax>10</xmax>\n      <ymax>12</ymax>"), "{a}");
        assert!(
            a.contains("<xmin>22</xmin>") && a.contains("<xmax>64</xmax>"),
            "{a}"
        );
        assert!(a.contains("<score>0.75</score>"), "{a}");
    }
}

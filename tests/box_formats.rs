//! Object box formats on real data (`scripts/setup_box_data.sh` installs it; a missing file
//! fails with "run `make setup`"): the PaddleLabel bear sample, whose same 6 boxes come in
//! COCO, VOC and YOLO, must read as the same boxes; labelme's examples (labelme JSON, its VOC
//! and COCO exports), sahi's COCO demo, PaddleLabel's fruit YOLO and a MOT17 sequence read;
//! every set round-trips through every writer; and the COCO export passes pycocotools.

use std::path::{Path, PathBuf};
use std::process::Command;

use yuxuan::domain::BBox;
use yuxuan::exchange::boxes::{
    self, image_dest, BoxDataset, BoxFormat, ImageBoxes, LabeledBox, Split, WriteOptions,
};

/// A file or folder of the box data, which must be there.
fn data(rel: &str) -> PathBuf {
    let p = yuxuan::assets::cache_dir().join("data-v1/boxes").join(rel);
    assert!(
        p.exists(),
        "{} is missing: run `make setup` (scripts/setup_box_data.sh installs the box data)",
        p.display()
    );
    p
}

/// Read with detection, checking the detected format.
fn read_as(path: &Path, format: BoxFormat) -> BoxDataset {
    assert_eq!(BoxFormat::detect(path), Some(format), "{}", path.display());
    boxes::read(path).unwrap_or_else(|e| panic!("{e}"))
}

fn image<'a>(ds: &'a BoxDataset, name: &str) -> &'a ImageBoxes {
    ds.images
        .iter()
        .find(|i| i.file_name() == name)
        .unwrap_or_else(|| {
            panic!(
                "{name} not among {:?}",
                ds.images.iter().map(|i| &i.file).collect::<Vec<_>>()
            )
        })
}

/// Human boxes then predictions, each in file order (every format keeps that order).
fn sorted(boxes: &[LabeledBox]) -> Vec<LabeledBox> {
    let (human, predicted): (Vec<_>, Vec<_>) =
        boxes.iter().cloned().partition(|b| b.score.is_none());
    human.into_iter().chain(predicted).collect()
}

/// Same images (by file name), sizes and boxes; `tol(width, height)` is the allowed difference
/// of each edge in pixels (x edges, y edges); `label` maps `a`'s labels to `b`'s.
fn assert_same_boxes(
    what: &str,
    a: &BoxDataset,
    b: &BoxDataset,
    tol: impl Fn(u32, u32) -> (f64, f64),
    label: impl Fn(&str) -> String,
) {
    assert_eq!(a.images.len(), b.images.len(), "{what}: image count");
    for ia in &a.images {
        let ib = image(b, ia.file_name());
        assert_eq!(
            (ia.width, ia.height),
            (ib.width, ib.height),
            "{what}: {}",
            ia.file
        );
        let (ba, bb) = (sorted(&ia.boxes), sorted(&ib.boxes));
        assert_eq!(ba.len(), bb.len(), "{what}: boxes of {}", ia.file);
        let (tx, ty) = tol(ia.width, ia.height);
        for (x, y) in ba.iter().zip(&bb) {
            assert_eq!(label(&x.label), y.label, "{what}: {}", ia.file);
            let d = [
                ((x.bbox.x - y.bbox.x).abs(), tx),
                ((x.bbox.x2() - y.bbox.x2()).abs(), tx),
                ((x.bbox.y - y.bbox.y).abs(), ty),
                ((x.bbox.y2() - y.bbox.y2()).abs(), ty),
            ];
            assert!(
                d.iter().all(|(diff, t)| diff <= t),
                "{what}: {}: {:?} vs {:?}",
                ia.file,
                x.bbox,
                y.bbox
            );
            assert_eq!(x.score.is_some(), y.score.is_some(), "{what}: {}", ia.file);
            if let (Some(s), Some(t)) = (x.score, y.score) {
                assert!((s - t).abs() < 1e-9, "{what}: score {s} vs {t}");
            }
        }
    }
}

fn exact(_: u32, _: u32) -> (f64, f64) {
    (1e-6, 1e-6)
}

fn same_label(l: &str) -> String {
    l.to_string()
}

#[test]
fn the_bear_sample_is_the_same_in_coco_voc_and_yolo() {
    let root = data("paddlelabel/bear/detection");
    let coco = read_as(&root.join("coco"), BoxFormat::Coco);
    let voc = read_as(&root.join("voc"), BoxFormat::Voc);
    let yolo = read_as(&root.join("yolo"), BoxFormat::Yolo);
    for (name, ds) in [("coco", &coco), ("voc", &voc), ("yolo", &yolo)] {
        assert_eq!(ds.images.len(), 3, "{name}");
        assert_eq!(ds.box_count(), 6, "{name}");
        for n in ["1.jpeg", "2.jpeg", "3.jpeg"] {
            let i = image(ds, n);
            assert_eq!((i.width, i.height), (756, 1008), "{name} {n}");
            assert_eq!(i.file, format!("JPEGImages/{n}"), "{name}");
        }
        assert_eq!(image(ds, "1.jpeg").split, Some(Split::Test), "{name}");
        assert_eq!(image(ds, "2.jpeg").split, Some(Split::Train), "{name}");
        assert_eq!(image(ds, "3.jpeg").split, Some(Split::Val), "{name}");
        println!(
            "bear {name}: {} images, {} boxes",
            ds.images.len(),
            ds.box_count()
        );
    }
    assert_eq!(
        image(&coco, "2.jpeg").boxes[0].bbox,
        BBox::new(366.0, 243.0, 180.0, 233.0)
    );
    // YOLO's normalised floats give COCO's pixels back.
    assert_same_boxes(
        "bear yolo vs coco",
        &yolo,
        &coco,
        |w, h| (1e-6 * w as f64, 1e-6 * h as f64),
        same_label,
    );
    // PaddleLabel writes VOC 0-based (xmax = x + w) and calls the class "bear" there and
    // "xiaoduxiong" in COCO/YOLO: read 1-based, the VOC boxes lie one pixel left and up.
    assert_same_boxes(
        "bear voc vs coco",
        &voc,
        &coco,
        |_, _| (1.0 + 1e-9, 1.0 + 1e-9),
        |l| {
            assert_eq!(l, "bear");
            "xiaoduxiong".into()
        },
    );
}

#[test]
fn labelme_examples_read_as_labelme_voc_and_coco() {
    let lm = read_as(
        &data("labelme/bbox_detection/data_annotated"),
        BoxFormat::Labelme,
    );
    let voc = read_as(
        &data("labelme/bbox_detection/data_dataset_voc"),
        BoxFormat::Voc,
    );
    let coco = read_as(
        &data("labelme/instance_segmentation/data_dataset_coco"),
        BoxFormat::Coco,
    );
    for (name, ds, n) in [("labelme", &lm, 9), ("voc", &voc, 9), ("coco", &coco, 12)] {
        assert_eq!(ds.images.len(), 3, "{name}");
        assert_eq!(ds.box_count(), n, "{name}");
        println!(
            "labelme-examples {name}: {} images, {} boxes",
            ds.images.len(),
            ds.box_count()
        );
    }
    assert_eq!(image(&lm, "2011_000003.jpg").file, "2011_000003.jpg");
    assert_eq!(
        image(&voc, "2011_000003.jpg").file,
        "JPEGImages/2011_000003.jpg"
    );
    assert_eq!(
        image(&coco, "2011_000003.jpg").file,
        "JPEGImages/2011_000003.jpg"
    );
    assert_eq!(
        (
            image(&coco, "2011_000025.jpg").width,
            image(&coco, "2011_000025.jpg").height
        ),
        (500, 375)
    );
    // class_names.txt orders VOC's labels (its _background_ skipped).
    assert_eq!(voc.labels[0], "aeroplane");
    assert_eq!(voc.labels.len(), 20);
    assert!(coco.labels.contains(&"person".to_string()));
    // labelme2voc wrote labelme's 0-based corners as VOC: read 1-based they lie one pixel off.
    assert_same_boxes(
        "labelme voc vs json",
        &voc,
        &lm,
        |_, _| (1.0 + 1e-9, 1.0 + 1e-9),
        same_label,
    );
    let p = &image(&lm, "2011_000003.jpg").boxes[0];
    assert_eq!(p.label, "person");
    assert!((p.bbox.y - 107.369).abs() < 1e-3, "{:?}", p.bbox);
}

#[test]
fn sahi_coco_demo_reads() {
    let ds = read_as(&data("sahi/terrain2_coco.json"), BoxFormat::Coco);
    assert_eq!(ds.labels, ["car"]);
    assert_eq!(ds.images.len(), 1);
    let i = &ds.images[0];
    assert_eq!(
        (i.file.as_str(), i.width, i.height),
        ("terrain2.png", 1024, 682)
    );
    assert_eq!(i.boxes.len(), 5);
    assert_eq!(i.boxes[0].bbox, BBox::new(218.0, 448.0, 222.0, 161.0));
    assert_eq!(
        boxes::image_size(&data("sahi/terrain2.png")).unwrap(),
        (1024, 682)
    );
    println!("sahi: 1 image, {} boxes", i.boxes.len());
}

#[test]
fn fruit_yolo_reads_and_the_broken_fruit_copies_are_refused() {
    let root = data("paddlelabel/fruit/detection");
    let yolo = read_as(&root.join("yolo"), BoxFormat::Yolo);
    assert_eq!(yolo.labels, ["梨", "苹果"]);
    assert_eq!(yolo.images.len(), 5);
    assert_eq!(yolo.box_count(), 9);
    assert!(image(&yolo, "5.jpeg").boxes.is_empty());
    assert_eq!(
        (image(&yolo, "1.jpeg").width, image(&yolo, "1.jpeg").height),
        (486, 435)
    );
    println!(
        "fruit yolo: {} images, {} boxes",
        yolo.images.len(),
        yolo.box_count()
    );
    // The COCO copy has a box 76 px left of its image; the VOC copy gives the bear photos' size.
    let e = boxes::read(&root.join("coco")).unwrap_err().to_string();
    assert!(
        e.contains("val.json") && e.contains("outside the 756x1008 image"),
        "{e}"
    );
    let e = boxes::read(&root.join("voc")).unwrap_err().to_string();
    assert!(
        e.contains("1.xml: <size> says 756x1008 but the image") && e.contains("is 486x435"),
        "{e}"
    );
}

/// MOT17-02's ground truth (`frame,id,x,y,w,h,flag,class,visibility`, 1-based pixels) for
/// its 4 frames of MOT17-mini, boxes clipped to the frame; frames 1-2 train, 3 val, 4 test.
fn mot17() -> (BoxDataset, PathBuf) {
    const CLASSES: [&str; 12] = [
        "pedestrian",
        "person_on_vehicle",
        "car",
        "bicycle",
        "motorbike",
        "non_mot_vehicle",
        "static_person",
        "distractor",
        "occluder",
        "occluder_on_ground",
        "occluder_full",
        "reflection",
    ];
    let root = data("mot17/MOT17-02-FRCNN");
    let gt = std::fs::read_to_string(data("mot17/MOT17-02-FRCNN/gt/gt.txt")).unwrap();
    let mut ds = BoxDataset::default();
    for f in 1..=4u32 {
        let file = format!("img1/{f:06}.jpg");
        let (w, h) = boxes::image_size(&root.join(&file)).unwrap();
        let mut img = ImageBoxes::new(file, w, h);
        img.split = Some(match f {
            1 | 2 => Split::Train,
            3 => Split::Val,
            _ => Split::Test,
        });
        ds.images.push(img);
    }
    for line in gt.lines() {
        let v: Vec<f64> = line.split(',').map(|t| t.trim().parse().unwrap()).collect();
        let img = &mut ds.images[v[0] as usize - 1];
        let b = BBox::new(v[2] - 1.0, v[3] - 1.0, v[4], v[5])
            .clipped(img.width as f64, img.height as f64);
        if b.is_valid() {
            img.boxes
                .push(LabeledBox::new(CLASSES[v[7] as usize - 1], b));
        }
    }
    ds.complete_labels();
    (ds, root)
}

/// The real sets: (name, dataset, folder its files are relative to).
fn real_sets() -> Vec<(String, BoxDataset, PathBuf)> {
    let mut out = Vec::new();
    for (name, rel) in [
        ("bear coco", "paddlelabel/bear/detection/coco"),
        ("bear yolo", "paddlelabel/bear/detection/yolo"),
        ("fruit yolo", "paddlelabel/fruit/detection/yolo"),
        ("labelme json", "labelme/bbox_detection/data_annotated"),
        ("labelme voc", "labelme/bbox_detection/data_dataset_voc"),
        (
            "labelme coco",
            "labelme/instance_segmentation/data_dataset_coco",
        ),
        ("sahi coco", "sahi"),
    ] {
        let root = data(rel);
        let ds = boxes::read(&root).unwrap_or_else(|e| panic!("{name}: {e}"));
        out.push((name.to_string(), ds, root));
    }
    let (mut ds, root) = mot17();
    // A few predictions too: every pedestrian of frame 4 again, scored.
    let extra: Vec<LabeledBox> = ds.images[3]
        .boxes
        .iter()
        .filter(|b| b.label == "pedestrian")
        .enumerate()
        .map(|(i, b)| LabeledBox::predicted("pedestrian", b.bbox, 0.5 + i as f64 / 100.0))
        .collect();
    ds.images[3].boxes.extend(extra);
    out.push(("mot17-02".into(), ds, root));
    out
}

fn place_images(ds: &BoxDataset, src_root: &Path, format: BoxFormat, out: &Path) {
    for img in &ds.images {
        let dest = out.join(image_dest(format, img));
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(src_root.join(&img.file), &dest)
            .unwrap_or_else(|e| panic!("copy {}: {e}", img.file));
    }
}

#[test]
fn every_real_set_round_trips_through_every_writer() {
    for (name, ds, root) in real_sets() {
        for format in BoxFormat::ALL {
            let dir = tempfile::tempdir().unwrap();
            let sum = boxes::write(&ds, format, dir.path(), &WriteOptions::default())
                .unwrap_or_else(|e| panic!("{name} -> {format}: {e}"));
            assert_eq!(
                sum.boxes + sum.predictions,
                ds.box_count(),
                "{name} -> {format}"
            );
            place_images(&ds, &root, format, dir.path());
            let back = read_as(dir.path(), format);
            let what = format!("{name} -> {format}");
            match format {
                // Normalised floats with 6 decimals.
                BoxFormat::Yolo => assert_same_boxes(
                    &what,
                    &ds,
                    &back,
                    |w, h| (1e-6 * w as f64, 1e-6 * h as f64),
                    same_label,
                ),
                // Whole pixels: each edge moves at most half a pixel.
                BoxFormat::Voc => assert_same_boxes(
                    &what,
                    &ds,
                    &back,
                    |_, _| (0.5 + 1e-9, 0.5 + 1e-9),
                    same_label,
                ),
                _ => assert_same_boxes(&what, &ds, &back, exact, same_label),
            }
            let mut labels = ds.all_labels();
            if matches!(format, BoxFormat::Voc | BoxFormat::Labelme) {
                // Their label lists are labelme's, where `_background_` is a marker, not a class.
                labels.retain(|l| l != "_background_");
            }
            assert_eq!(back.labels, labels, "{what}: labels");
            for i in &ds.images {
                assert_eq!(
                    image(&back, i.file_name()).split,
                    i.split,
                    "{what}: split of {}",
                    i.file
                );
            }
            println!(
                "{what}: {} images, {} boxes + {} predictions, {} files, {} clipped",
                sum.images,
                sum.boxes,
                sum.predictions,
                sum.files.len(),
                sum.clipped
            );
        }
    }
}

#[test]
fn the_coco_export_passes_pycocotools() {
    let py = yuxuan::assets::venv_python();
    assert!(py.exists(), "{} is missing: run `make setup`", py.display());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check_coco_export.py");
    for (name, ds, _) in real_sets() {
        let dir = tempfile::tempdir().unwrap();
        let sum = boxes::write(&ds, BoxFormat::Coco, dir.path(), &WriteOptions::default()).unwrap();
        let files: Vec<PathBuf> = sum
            .files
            .iter()
            .filter(|f| f.starts_with("annotations/instances"))
            .map(|f| dir.path().join(f))
            .collect();
        let out = Command::new(&py)
            .arg(&script)
            .args(&files)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: check_coco_export.py failed (pycocotools missing? run `make setup`):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!("{name}:\n{stdout}");
        let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        let ap = last["min_ap"].as_f64().unwrap();
        // 1.0 up to the rounding of pycocotools' means (it prints 1.000).
        assert!(
            (ap - 1.0).abs() < 1e-12,
            "{name}: AP@[.50:.95] of the export against itself is {ap}"
        );
        assert_eq!(
            last["annotations"].as_u64().unwrap() as usize,
            sum.boxes,
            "{name}: pycocotools saw every human box"
        );
    }
    // The YOLO export is read by ultralytics' own dataset code in tests/objects.rs.
}

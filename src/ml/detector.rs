//! Object detection for box pre-labelling: an ultralytics YOLO detection model exported to
//! TorchScript (YOLO11n COCO-80 by default, installed by `scripts/setup_yolo.sh`), with
//! everything ultralytics does around the graph redone here so that the boxes are the ones
//! `model.predict()` returns:
//!
//! - loading any ultralytics `detect` export: input size, class names and task come from the
//!   archive's `extra/config.txt`; other tasks and end-to-end (NMS-in-graph) exports are refused;
//!   the file is checked against a `<file>.sha256` next to it when there is one;
//! - the letterbox (`LetterBox(auto=False, center=True)`, grey 114 padding), with OpenCV's
//!   `cv2.resize(INTER_LINEAR)` reproduced bit for bit: 11-bit fixed-point weights, half-pixel
//!   centres, no antialiasing when shrinking, and the exact 2x shrink done as a 2x2 mean the way
//!   OpenCV switches to `INTER_AREA` for it;
//! - decoding `[B, 4 + nc, N]` (centre, size, then per-class sigmoid scores), best class per
//!   anchor above `conf`, class-aware greedy NMS (torchvision's arithmetic, IoU > `iou`
//!   suppresses), `max_det`, and `scale_boxes` back to image pixels, clipped to the image.
//!
//! The work splits for pipelining: [`Detector::prepare`] (CPU, any thread), [`Detector::forward`]
//! (the model, one batch), [`Detector::decode`] (CPU, any thread); [`Detector::detect`] and
//! [`Detector::forward_decode`] chain them. The pure parts (geometry, resize, decode, NMS) are
//! free functions tested without weights.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use image::RgbImage;
use tch::{Device, IValue, Kind, Tensor};

use crate::domain::BBox;

/// The grey ultralytics pads the letterbox with (`LetterBox(padding_value=114)`).
pub const PAD_VALUE: u8 = 114;
/// At most this many candidates (highest scores first) enter NMS (ultralytics' `max_nms`).
pub const MAX_NMS: usize = 30_000;
/// File name of the installed YOLO11n export inside [`crate::assets::yolo11n_dir`].
pub const YOLO11N_FILE: &str = "yolo11n.torchscript";

/// Why a detector cannot be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    #[error("no detector model at {path}; {hint}", hint = crate::assets::SETUP_HINT)]
    Missing { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} does not match its recorded sha256 (expected {expected}, found {found}): damaged or replaced; {hint}", hint = crate::assets::SETUP_HINT)]
    Checksum {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("{path} is not an ultralytics TorchScript export: {message}")]
    NotUltralytics { path: PathBuf, message: String },
    #[error("{path} is an ultralytics `{task}` model; only `detect` models can pre-label boxes")]
    NotDetection { path: PathBuf, task: String },
    #[error("{path}: {message}")]
    Unsupported { path: PathBuf, message: String },
    #[error("libtorch could not load {path}: {source}")]
    Load {
        path: PathBuf,
        #[source]
        source: tch::TchError,
    },
    #[error("the detector's forward pass failed: {0}")]
    Forward(#[source] tch::TchError),
    #[error("unexpected detector output: {0}")]
    Output(String),
    #[error("cannot run the detector on an empty ({width}x{height}) image")]
    EmptyImage { width: u32, height: u32 },
}

/// Thresholds, as ultralytics' `predict(conf=, iou=, max_det=)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectOptions {
    /// Keep an anchor when its best class score is above this.
    pub conf: f32,
    /// A box is suppressed by a higher-scored box of its class when their IoU is above this.
    pub iou: f32,
    /// At most this many detections per image.
    pub max_det: usize,
}

impl Default for DetectOptions {
    fn default() -> Self {
        DetectOptions {
            conf: 0.25,
            iou: 0.7,
            max_det: 300,
        }
    }
}

/// One detected object, in image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub class_id: usize,
    /// The class name from the model's metadata (`class<N>` where it has none).
    pub label: String,
    pub score: f32,
    pub bbox: BBox,
}

/// A kept candidate in model-input pixels (corners), before mapping back to the image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
    pub score: f32,
    pub class_id: usize,
}

impl RawBox {
    fn area(&self) -> f32 {
        (self.x2 - self.x1) * (self.y2 - self.y1)
    }
}

// ------------------------------------------------------------------------------ letterbox

/// Where an image sits in the letterboxed model input, to map boxes back (ultralytics'
/// `LetterBox.get_params` and `scale_boxes`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LetterboxTransform {
    pub image_w: u32,
    pub image_h: u32,
    pub input_w: u32,
    pub input_h: u32,
    /// The image's size once resized, before padding: `round(image * gain)`, at least 1.
    pub resized_w: u32,
    pub resized_h: u32,
    /// `min(input_h / image_h, input_w / image_w)`.
    pub gain: f64,
    pub pad_left: u32,
    pub pad_top: u32,
}

impl LetterboxTransform {
    /// The geometry of `LetterBox(new_shape=(input_h, input_w), auto=False, center=True,
    /// scaleup=True)` for an `image_w` x `image_h` image (both positive).
    pub fn new(image_w: u32, image_h: u32, input_w: u32, input_h: u32) -> LetterboxTransform {
        let gain = (input_h as f64 / image_h as f64).min(input_w as f64 / image_w as f64);
        // Python's round(): halves to even.
        let resized_w = ((image_w as f64 * gain).round_ties_even() as u32).max(1);
        let resized_h = ((image_h as f64 * gain).round_ties_even() as u32).max(1);
        let dw = input_w.saturating_sub(resized_w) as f64 / 2.0;
        let dh = input_h.saturating_sub(resized_h) as f64 / 2.0;
        LetterboxTransform {
            image_w,
            image_h,
            input_w,
            input_h,
            resized_w,
            resized_h,
            gain,
            pad_left: (dw - 0.1).round_ties_even().max(0.0) as u32,
            pad_top: (dh - 0.1).round_ties_even().max(0.0) as u32,
        }
    }

    /// Horizontal scale actually applied (`resized_w / image_w`), what `scale_boxes` divides by.
    pub fn gain_x(&self) -> f64 {
        self.resized_w as f64 / self.image_w as f64
    }

    /// Vertical scale actually applied (`resized_h / image_h`).
    pub fn gain_y(&self) -> f64 {
        self.resized_h as f64 / self.image_h as f64
    }

    /// Corners in model-input pixels to a box in image pixels: padding removed, divided by the
    /// gain, clipped to the image (ultralytics' `scale_boxes`, in float32 as there).
    pub fn to_image(&self, x1: f32, y1: f32, x2: f32, y2: f32) -> BBox {
        let (px, py) = (self.pad_left as f32, self.pad_top as f32);
        let (gx, gy) = (self.gain_x() as f32, self.gain_y() as f32);
        let (w, h) = (self.image_w as f32, self.image_h as f32);
        let x1 = ((x1 - px) / gx).clamp(0.0, w);
        let y1 = ((y1 - py) / gy).clamp(0.0, h);
        let x2 = ((x2 - px) / gx).clamp(0.0, w);
        let y2 = ((y2 - py) / gy).clamp(0.0, h);
        BBox::from_corners(x1 as f64, y1 as f64, x2 as f64, y2 as f64)
    }
}

const COEF_BITS: u32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

/// OpenCV's `saturate_cast<short>(float)`: round half to even, then saturate.
fn fixed_weight(v: f32) -> i32 {
    (v.round_ties_even() as i32).clamp(i16::MIN as i32, i16::MAX as i32)
}

/// Source index and fixed-point weights of each destination column or row, as OpenCV's
/// `hal::resize` builds them for `INTER_LINEAR` on 8-bit images. `clamp` is the column rule
/// (out-of-range positions pinned to the edge with weight 0); rows keep the raw position and
/// the caller clips the two source rows instead.
fn linear_taps(src: usize, dst: usize, clamp: bool) -> Vec<(i64, [i32; 2])> {
    let inv_scale = dst as f64 / src as f64;
    let scale = 1.0 / inv_scale;
    (0..dst)
        .map(|d| {
            let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut s = f.floor() as i64;
            let mut f = f - s as f32;
            if clamp {
                if s < 0 {
                    f = 0.0;
                    s = 0;
                }
                if s >= src as i64 - 1 {
                    f = 0.0;
                    s = src as i64 - 1;
                }
            }
            let w = [
                fixed_weight((1.0 - f) * COEF_SCALE),
                fixed_weight(f * COEF_SCALE),
            ];
            (s, w)
        })
        .collect()
}

/// The vertical pass for 8-bit images (`VResizeLinearVec_32s8u` and OpenCV's specialised
/// scalar tail, which uses the same arithmetic): 16-bit high products of the pre-shifted
/// horizontal sums, then `(sum + 2) >> 2`. Not the exactly rounded `(s0*b0 + s1*b1 + 2^21) >> 22`:
/// the two differ by 1 on some pixels.
fn vmix(s0: i32, s1: i32, b0: i32, b1: i32) -> u8 {
    let a = ((s0 >> 4).clamp(i16::MIN as i32, i16::MAX as i32) * b0) >> 16;
    let b = ((s1 >> 4).clamp(i16::MIN as i32, i16::MAX as i32) * b1) >> 16;
    let sum = (a + b).clamp(i16::MIN as i32, i16::MAX as i32);
    ((sum + 2) >> 2).clamp(0, 255) as u8
}

/// `cv2.resize(src, (dw, dh), interpolation=cv2.INTER_LINEAR)` for an interleaved 8-bit image
/// with `cn` channels, bit-exact with OpenCV 4.x on x86-64 (the generic fixed-point path; IPP is
/// not used there for 8-bit linear resizing; an exact 2x shrink is a 2x2 mean as OpenCV does).
/// Plain bilinear: no antialiasing when shrinking.
pub fn resize_linear_cv2(
    src: &[u8],
    sw: usize,
    sh: usize,
    cn: usize,
    dw: usize,
    dh: usize,
) -> Vec<u8> {
    assert_eq!(src.len(), sw * sh * cn, "source buffer size");
    assert!(sw > 0 && sh > 0 && dw > 0 && dh > 0, "empty image");
    if sw == dw && sh == dh {
        return src.to_vec();
    }
    let mut out = vec![0u8; dw * dh * cn];
    if sw == 2 * dw && sh == 2 * dh {
        // OpenCV turns an exact 2x INTER_LINEAR shrink into INTER_AREA: (a+b+c+d+2) >> 2.
        let stride = sw * cn;
        for y in 0..dh {
            let r0 = &src[2 * y * stride..(2 * y + 1) * stride];
            let r1 = &src[(2 * y + 1) * stride..(2 * y + 2) * stride];
            let o = &mut out[y * dw * cn..(y + 1) * dw * cn];
            for x in 0..dw {
                for c in 0..cn {
                    let i = 2 * x * cn + c;
                    let s = r0[i] as u32 + r0[i + cn] as u32 + r1[i] as u32 + r1[i + cn] as u32;
                    o[x * cn + c] = ((s + 2) >> 2) as u8;
                }
            }
        }
        return out;
    }
    let xt = linear_taps(sw, dw, true);
    let yt = linear_taps(sh, dh, false);
    let width = dw * cn;
    // Horizontal pass per source row, cached: consecutive output rows share source rows.
    let hpass = |row: usize, buf: &mut Vec<i32>| {
        let s = &src[row * sw * cn..(row + 1) * sw * cn];
        buf.clear();
        for &(sx, [a0, a1]) in &xt {
            let sx = sx as usize * cn;
            for c in 0..cn {
                let v0 = s[sx + c] as i32;
                // At the right edge the weight of the next column is 0 (OpenCV reads only sx).
                let v1 = if a1 != 0 { s[sx + cn + c] as i32 } else { 0 };
                buf.push(v0 * a0 + v1 * a1);
            }
        }
    };
    let clip = |v: i64| v.clamp(0, sh as i64 - 1) as usize;
    let (mut row_a, mut row_b) = (Vec::with_capacity(width), Vec::with_capacity(width));
    let (mut have_a, mut have_b) = (usize::MAX, usize::MAX);
    for (dy, &(sy, [b0, b1])) in yt.iter().enumerate() {
        let (y0, y1) = (clip(sy), clip(sy + 1));
        // Keep the cached rows in (y0, y1) order, reusing what was computed for the last row.
        if have_a != y0 {
            if have_b == y0 {
                std::mem::swap(&mut row_a, &mut row_b);
                std::mem::swap(&mut have_a, &mut have_b);
            } else {
                hpass(y0, &mut row_a);
                have_a = y0;
            }
        }
        if have_b != y1 {
            if y1 == y0 {
                row_b.clone_from(&row_a);
            } else {
                hpass(y1, &mut row_b);
            }
            have_b = y1;
        }
        let o = &mut out[dy * width..(dy + 1) * width];
        for ((o, &a), &b) in o.iter_mut().zip(&row_a).zip(&row_b) {
            *o = vmix(a, b, b0, b1);
        }
    }
    out
}

/// The letterboxed model input as 8-bit interleaved RGB (`input_h` x `input_w` x 3), exactly
/// what ultralytics feeds the model before dividing by 255, and where the image went.
pub fn letterbox_rgb(img: &RgbImage, input_w: u32, input_h: u32) -> (Vec<u8>, LetterboxTransform) {
    let t = LetterboxTransform::new(img.width(), img.height(), input_w, input_h);
    let resized = resize_linear_cv2(
        img.as_raw(),
        img.width() as usize,
        img.height() as usize,
        3,
        t.resized_w as usize,
        t.resized_h as usize,
    );
    let (iw, ih) = (input_w as usize, input_h as usize);
    let mut out = vec![PAD_VALUE; iw * ih * 3];
    let (rw, rh) = (t.resized_w as usize, t.resized_h as usize);
    let (left, top) = (t.pad_left as usize, t.pad_top as usize);
    // copyMakeBorder: the resized image at (left, top); anything past the input is cut.
    let cw = rw.min(iw.saturating_sub(left));
    for y in 0..rh.min(ih.saturating_sub(top)) {
        let dst = ((top + y) * iw + left) * 3;
        out[dst..dst + cw * 3].copy_from_slice(&resized[y * rw * 3..(y * rw + cw) * 3]);
    }
    (out, t)
}

/// The letterboxed model input as a `[1, 3, input_h, input_w]` float tensor (RGB, 0..1, on
/// the CPU) and the transform back to image pixels.
pub fn letterbox(img: &RgbImage, input_w: u32, input_h: u32) -> (Tensor, LetterboxTransform) {
    let (rgb, t) = letterbox_rgb(img, input_w, input_h);
    let plane = input_w as usize * input_h as usize;
    let mut chw = vec![0f32; plane * 3];
    for (i, px) in rgb.chunks_exact(3).enumerate() {
        for c in 0..3 {
            chw[c * plane + i] = px[c] as f32 / 255.0;
        }
    }
    let x = Tensor::from_slice(&chw).view([1, 3, input_h as i64, input_w as i64]);
    (x, t)
}

// ------------------------------------------------------------------------------ decode + NMS

/// The candidates of one image's raw output (`[4 + num_classes, N]`, channel-major, as the
/// model returns it): the best class of each anchor when its score is above `conf`, as corners
/// in input pixels, at most [`MAX_NMS`] of them (highest scores).
pub fn candidates(
    pred: &[f32],
    num_classes: usize,
    conf: f32,
) -> Result<Vec<RawBox>, DetectorError> {
    let channels = 4 + num_classes;
    let n = pred.len() / channels;
    if num_classes == 0 || n * channels != pred.len() {
        return Err(DetectorError::Output(format!(
            "{} values are not a whole number of {channels}-channel anchors",
            pred.len()
        )));
    }
    let mut out = Vec::new();
    for a in 0..n {
        let (mut best, mut score) = (0usize, f32::NEG_INFINITY);
        for c in 0..num_classes {
            let s = pred[(4 + c) * n + a];
            if s > score {
                best = c;
                score = s;
            }
        }
        if score > conf {
            let (cx, cy) = (pred[a], pred[n + a]);
            let (hw, hh) = (pred[2 * n + a] / 2.0, pred[3 * n + a] / 2.0);
            out.push(RawBox {
                x1: cx - hw,
                y1: cy - hh,
                x2: cx + hw,
                y2: cy + hh,
                score,
                class_id: best,
            });
        }
    }
    if out.len() > MAX_NMS {
        out.sort_by(|a, b| b.score.total_cmp(&a.score));
        out.truncate(MAX_NMS);
    }
    Ok(out)
}

/// IoU of two corner boxes in torchvision's `nms` arithmetic (float32, no +1).
pub fn iou_f32(a: &RawBox, b: &RawBox) -> f32 {
    let w = (a.x2.min(b.x2) - a.x1.max(b.x1)).max(0.0);
    let h = (a.y2.min(b.y2) - a.y1.max(b.y1)).max(0.0);
    let inter = w * h;
    inter / (a.area() + b.area() - inter)
}

/// Class-aware greedy NMS: indices of the kept boxes, highest score first (ties keep input
/// order, like torchvision's stable sort), at most `max_det`. A box is dropped when its IoU with
/// a kept, higher-scored box of the same class is above `iou_threshold`. Per class rather than
/// ultralytics' class-offset trick, which is the same in exact arithmetic.
pub fn nms(boxes: &[RawBox], iou_threshold: f32, max_det: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&a, &b| boxes[b].score.total_cmp(&boxes[a].score));
    let mut kept_by_class: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut keep = Vec::new();
    for i in order {
        if keep.len() >= max_det {
            break;
        }
        let b = &boxes[i];
        let kept = kept_by_class.entry(b.class_id).or_default();
        // A NaN IoU (two empty boxes) suppresses nothing, as in torchvision.
        let suppressed = kept.iter().any(|&k| iou_f32(&boxes[k], b) > iou_threshold);
        if !suppressed {
            kept.push(i);
            keep.push(i);
        }
    }
    keep
}

/// One image's raw output to the kept boxes in input pixels: [`candidates`] then [`nms`].
pub fn decode_raw(
    pred: &[f32],
    num_classes: usize,
    opts: &DetectOptions,
) -> Result<Vec<RawBox>, DetectorError> {
    let cands = candidates(pred, num_classes, opts.conf)?;
    Ok(nms(&cands, opts.iou, opts.max_det)
        .into_iter()
        .map(|i| cands[i])
        .collect())
}

/// Kept boxes to detections in image pixels, named with `names`.
pub fn to_detections(
    boxes: &[RawBox],
    transform: &LetterboxTransform,
    names: &[String],
) -> Vec<Detection> {
    boxes
        .iter()
        .map(|b| Detection {
            class_id: b.class_id,
            label: names
                .get(b.class_id)
                .cloned()
                .unwrap_or_else(|| format!("class{}", b.class_id)),
            score: b.score,
            bbox: transform.to_image(b.x1, b.y1, b.x2, b.y2),
        })
        .collect()
}

// ------------------------------------------------------------------------------ model

/// What an ultralytics export says about itself (`extra/config.txt`).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub input_w: u32,
    pub input_h: u32,
    /// Class names by class id.
    pub names: Vec<String>,
    pub task: String,
    pub stride: Option<u32>,
    /// The batch size the export was traced with (the YOLO graphs accept any).
    pub batch: Option<u32>,
    /// The ultralytics version that exported it.
    pub version: Option<String>,
    pub license: Option<String>,
    pub description: Option<String>,
}

impl ModelInfo {
    /// Parse `extra/config.txt` (JSON) of an ultralytics export; refuses anything but a 3-channel
    /// `detect` model whose output still needs NMS. `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<ModelInfo, DetectorError> {
        let not_ul = |message: String| DetectorError::NotUltralytics {
            path: path.to_path_buf(),
            message,
        };
        let unsupported = |message: String| DetectorError::Unsupported {
            path: path.to_path_buf(),
            message,
        };
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| not_ul(format!("extra/config.txt is not JSON: {e}")))?;
        let task = v
            .get("task")
            .and_then(|t| t.as_str())
            .ok_or_else(|| not_ul("extra/config.txt names no task".into()))?;
        if task != "detect" {
            return Err(DetectorError::NotDetection {
                path: path.to_path_buf(),
                task: task.to_string(),
            });
        }
        let flag = |v: Option<&serde_json::Value>| v.and_then(|x| x.as_bool()).unwrap_or(false);
        if flag(v.get("end2end")) || flag(v.pointer("/args/nms")) {
            return Err(unsupported(
                "an end-to-end export (NMS inside the graph, [B, 300, 6] output); export with \
                 nms=False and without end2end"
                    .into(),
            ));
        }
        if let Some(c) = v.get("channels").and_then(|c| c.as_u64()) {
            if c != 3 {
                return Err(unsupported(format!(
                    "a {c}-channel model; RGB (3) is needed"
                )));
            }
        }
        let dim = |x: &serde_json::Value| x.as_u64().filter(|&d| d > 0 && d <= 16384);
        let (input_h, input_w) = match v.get("imgsz") {
            Some(serde_json::Value::Array(a)) if a.len() == 2 => match (dim(&a[0]), dim(&a[1])) {
                (Some(h), Some(w)) => (h, w),
                _ => return Err(not_ul(format!("bad imgsz {a:?}"))),
            },
            Some(x) if dim(x).is_some() => (dim(x).unwrap_or(0), dim(x).unwrap_or(0)),
            other => return Err(not_ul(format!("bad or missing imgsz {other:?}"))),
        };
        let names: Vec<String> = match v.get("names") {
            Some(serde_json::Value::Object(m)) => {
                let mut by_id: Vec<(usize, String)> = Vec::with_capacity(m.len());
                for (k, name) in m {
                    let id = k
                        .trim()
                        .parse::<usize>()
                        .map_err(|_| not_ul(format!("class id {k:?} is not a number")))?;
                    by_id.push((id, name.as_str().unwrap_or_default().to_string()));
                }
                by_id.sort_by_key(|(id, _)| *id);
                if by_id.iter().enumerate().any(|(i, (id, _))| i != *id) {
                    return Err(not_ul("class ids are not 0..n".into()));
                }
                by_id.into_iter().map(|(_, n)| n).collect()
            }
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|n| n.as_str().unwrap_or_default().to_string())
                .collect(),
            _ => return Err(not_ul("no class names".into())),
        };
        if names.is_empty() {
            return Err(not_ul("no class names".into()));
        }
        let num = |key: &str| v.get(key).and_then(|x| x.as_u64()).map(|x| x as u32);
        let string = |key: &str| v.get(key).and_then(|x| x.as_str()).map(str::to_string);
        Ok(ModelInfo {
            input_w: input_w as u32,
            input_h: input_h as u32,
            names,
            task: task.to_string(),
            stride: num("stride"),
            batch: num("batch"),
            version: string("version"),
            license: string("license"),
            description: string("description"),
        })
    }

    pub fn num_classes(&self) -> usize {
        self.names.len()
    }
}

/// `extra/config.txt` out of a TorchScript archive (a zip whose entries sit under one folder).
fn read_config(bytes: &[u8], path: &Path) -> Result<String, DetectorError> {
    let not_ul = |message: String| DetectorError::NotUltralytics {
        path: path.to_path_buf(),
        message,
    };
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| not_ul(format!("not a TorchScript archive ({e})")))?;
    let name = zip
        .file_names()
        .find(|n| n.ends_with("/extra/config.txt") && n.matches('/').count() == 2)
        .map(str::to_string)
        .ok_or_else(|| not_ul("no extra/config.txt in the archive".into()))?;
    let mut text = String::new();
    zip.by_name(&name)
        .map_err(|e| not_ul(format!("cannot open {name}: {e}")))?
        .read_to_string(&mut text)
        .map_err(|e| not_ul(format!("cannot read {name}: {e}")))?;
    Ok(text)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The raw output of one forward pass: `[batch, channels, anchors]` on the CPU.
#[derive(Debug, Clone, PartialEq)]
pub struct RawOutput {
    pub batch: usize,
    pub channels: usize,
    pub anchors: usize,
    pub data: Vec<f32>,
}

impl RawOutput {
    /// Image `i`'s `[channels, anchors]` values.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.channels * self.anchors;
        &self.data[i * n..(i + 1) * n]
    }
}

/// A loaded ultralytics detection export (eval mode, on one device). `Send + Sync`:
/// [`Detector::prepare`] and [`Detector::decode`] can run on worker threads while another
/// thread runs [`Detector::forward`].
#[derive(Debug)]
pub struct Detector {
    module: tch::CModule,
    device: Device,
    info: ModelInfo,
    path: PathBuf,
}

impl Detector {
    /// The YOLO11n COCO export that `scripts/setup_yolo.sh` installs, which must come with
    /// its `.sha256`.
    pub fn load_installed(device: Device) -> Result<Detector, DetectorError> {
        let path = crate::assets::yolo11n_dir().join(YOLO11N_FILE);
        let sha = sha256_path(&path);
        if path.is_file() && !sha.is_file() {
            return Err(DetectorError::Missing { path: sha });
        }
        Detector::load(&path, device)
    }

    /// Load an ultralytics TorchScript detection export of any size and classes on `device`,
    /// checked against `<path>.sha256` (sha256sum format) when that file exists.
    pub fn load(path: &Path, device: Device) -> Result<Detector, DetectorError> {
        if !path.is_file() {
            return Err(DetectorError::Missing {
                path: path.to_path_buf(),
            });
        }
        let io = |p: &Path, source| DetectorError::Io {
            path: p.to_path_buf(),
            source,
        };
        let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
        let sha = sha256_path(path);
        if sha.is_file() {
            let recorded = std::fs::read_to_string(&sha).map_err(|e| io(&sha, e))?;
            let expected = recorded
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            use sha2::Digest;
            let found = hex(&sha2::Sha256::digest(&bytes));
            if found != expected {
                return Err(DetectorError::Checksum {
                    path: path.to_path_buf(),
                    expected,
                    found,
                });
            }
        }
        let info = ModelInfo::parse(&read_config(&bytes, path)?, path)?;
        drop(bytes);
        let device = super::device::prepare(device);
        let mut module =
            tch::CModule::load_on_device(path, device).map_err(|source| DetectorError::Load {
                path: path.to_path_buf(),
                source,
            })?;
        module.set_eval();
        Ok(Detector {
            module,
            device,
            info,
            path: path.to_path_buf(),
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn device(&self) -> Device {
        self.device
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The class names by class id.
    pub fn class_names(&self) -> &[String] {
        &self.info.names
    }

    /// The model's input side in pixels (the larger one for a non-square export): an image
    /// needs no more resolution than this.
    pub fn input_size(&self) -> usize {
        self.info.input_w.max(self.info.input_h) as usize
    }

    /// Letterbox `img` into a `[1, 3, H, W]` CPU input and say where it went. Pure CPU work:
    /// call it on worker threads and batch the inputs for [`Detector::forward`].
    pub fn prepare(&self, img: &RgbImage) -> Result<(Tensor, LetterboxTransform), DetectorError> {
        if img.width() == 0 || img.height() == 0 {
            return Err(DetectorError::EmptyImage {
                width: img.width(),
                height: img.height(),
            });
        }
        Ok(letterbox(img, self.info.input_w, self.info.input_h))
    }

    /// Run the model on a `[B, 3, H, W]` batch (any device; moved to the model's) without
    /// autograd; the output comes back to the CPU as plain floats.
    pub fn forward(&self, batch: &Tensor) -> Result<RawOutput, DetectorError> {
        let (h, w) = (self.info.input_h as i64, self.info.input_w as i64);
        match batch.size().as_slice() {
            [_, 3, bh, bw] if *bh == h && *bw == w => {}
            other => {
                return Err(DetectorError::Output(format!(
                    "input of shape {other:?}; the model takes [B, 3, {h}, {w}]"
                )))
            }
        }
        let out = tch::no_grad(|| -> Result<Tensor, DetectorError> {
            let x = batch.to_device(self.device).to_kind(Kind::Float);
            let y = self
                .module
                .forward_is(&[IValue::Tensor(x)])
                .map_err(DetectorError::Forward)?;
            match y {
                IValue::Tensor(t) => Ok(t),
                // Some exports return (predictions, extras): the predictions come first.
                IValue::Tuple(mut v) | IValue::GenericList(mut v) if !v.is_empty() => {
                    match v.swap_remove(0) {
                        IValue::Tensor(t) => Ok(t),
                        _ => Err(DetectorError::Output("a non-tensor first output".into())),
                    }
                }
                _ => Err(DetectorError::Output("a non-tensor output".into())),
            }
        })?;
        let size = out.size();
        let channels = 4 + self.info.num_classes();
        let [b, c, n] = size.as_slice() else {
            return Err(DetectorError::Output(format!(
                "shape {size:?}, not [B, C, N]"
            )));
        };
        if *c as usize != channels || *b != batch.size()[0] {
            return Err(DetectorError::Output(format!(
                "shape {size:?}; expected [{}, {channels}, N] for {} classes",
                batch.size()[0],
                self.info.num_classes()
            )));
        }
        let data = Vec::<f32>::try_from(
            out.to_device(Device::Cpu)
                .to_kind(Kind::Float)
                .contiguous()
                .view([-1]),
        )
        .map_err(DetectorError::Forward)?;
        Ok(RawOutput {
            batch: *b as usize,
            channels,
            anchors: *n as usize,
            data,
        })
    }

    /// Boxes of image `index` of a forward pass, mapped back through its `transform`. Pure CPU
    /// work, fine on worker threads.
    pub fn decode(
        &self,
        raw: &RawOutput,
        index: usize,
        transform: &LetterboxTransform,
        opts: &DetectOptions,
    ) -> Result<Vec<Detection>, DetectorError> {
        if index >= raw.batch {
            return Err(DetectorError::Output(format!(
                "image {index} of a batch of {}",
                raw.batch
            )));
        }
        let boxes = decode_raw(raw.image(index), self.info.num_classes(), opts)?;
        Ok(to_detections(&boxes, transform, &self.info.names))
    }

    /// Forward a batch of prepared inputs in one pass and decode each.
    pub fn forward_decode(
        &self,
        prepared: &[(Tensor, LetterboxTransform)],
        opts: &DetectOptions,
    ) -> Result<Vec<Vec<Detection>>, DetectorError> {
        if prepared.is_empty() {
            return Ok(Vec::new());
        }
        let inputs: Vec<&Tensor> = prepared.iter().map(|(x, _)| x).collect();
        let batch = Tensor::cat(&inputs, 0);
        let raw = self.forward(&batch)?;
        prepared
            .iter()
            .enumerate()
            .map(|(i, (_, t))| self.decode(&raw, i, t, opts))
            .collect()
    }

    /// Detect the objects of one image.
    pub fn detect(
        &self,
        img: &RgbImage,
        opts: &DetectOptions,
    ) -> Result<Vec<Detection>, DetectorError> {
        let prepared = self.prepare(img)?;
        Ok(self
            .forward_decode(std::slice::from_ref(&prepared), opts)?
            .pop()
            .unwrap_or_default())
    }
}

/// `<path>.sha256`.
fn sha256_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rb(x1: f32, y1: f32, x2: f32, y2: f32, score: f32, class_id: usize) -> RawBox {
        RawBox {
            x1,
            y1,
            x2,
            y2,
            score,
            class_id,
        }
    }

    #[test]
    fn letterbox_geometry_matches_ultralytics() {
        // coffee.png 600x400 -> r = 16/15, 640x427, 213 rows of padding: 106 on top.
        let t = LetterboxTransform::new(600, 400, 640, 640);
        assert_eq!((t.resized_w, t.resized_h), (640, 427));
        assert_eq!((t.pad_left, t.pad_top), (0, 106));
        // chelsea.png 451x300: 640x426, 107 on top (dh = 107.0 -> round(106.9)).
        let t = LetterboxTransform::new(451, 300, 640, 640);
        assert_eq!((t.resized_w, t.resized_h, t.pad_top), (640, 426, 107));
        // Portrait, rounding half to even like Python: 961 * 0.5 = 480.5 -> 480.
        let t = LetterboxTransform::new(961, 1280, 640, 640);
        assert_eq!((t.resized_w, t.resized_h), (480, 640));
        assert_eq!((t.pad_left, t.pad_top), (80, 0));
        // Odd padding: 1 px left over goes to the right/bottom (round(dw - 0.1)).
        let t = LetterboxTransform::new(100, 99, 64, 64);
        assert_eq!((t.resized_w, t.resized_h), (64, 63));
        assert_eq!(t.pad_top, 0);
        // Thin images keep at least one pixel.
        let t = LetterboxTransform::new(3000, 1, 640, 640);
        assert_eq!((t.resized_w, t.resized_h), (640, 1));
        // Non-square inputs: the tighter side decides.
        let t = LetterboxTransform::new(1000, 1000, 640, 384);
        assert_eq!(
            (t.resized_w, t.resized_h, t.pad_left, t.pad_top),
            (384, 384, 128, 0)
        );
    }

    #[test]
    fn boxes_map_back_to_the_image_and_clip() {
        let t = LetterboxTransform::new(600, 400, 640, 640);
        let b = t.to_image(0.0, 106.0, 640.0, 533.0);
        assert!((b.x - 0.0).abs() < 1e-4 && (b.y - 0.0).abs() < 1e-4);
        assert!((b.w - 600.0).abs() < 1e-3 && (b.h - 400.0).abs() < 1e-3);
        // Outside the image: clipped.
        let b = t.to_image(-20.0, 0.0, 700.0, 640.0);
        assert_eq!((b.x, b.y, b.x2(), b.y2()), (0.0, 0.0, 600.0, 400.0));
        // Uses the gain actually applied on each axis (427/400, not 640/600).
        let b = t.to_image(64.0, 106.0 + 42.7, 128.0, 106.0 + 85.4);
        assert!(
            (b.x - 60.0).abs() < 1e-3 && (b.y - 40.0).abs() < 1e-3,
            "{b:?}"
        );
    }

    #[test]
    fn resize_identity_and_constant() {
        let src: Vec<u8> = (0..5 * 4 * 3).map(|i| (i * 7 % 256) as u8).collect();
        assert_eq!(resize_linear_cv2(&src, 5, 4, 3, 5, 4), src);
        // A constant image stays constant whatever the scale (weights sum to 2048).
        let flat = vec![200u8; 37 * 23 * 3];
        for (dw, dh) in [(64, 40), (10, 7), (37, 60), (100, 23)] {
            let out = resize_linear_cv2(&flat, 37, 23, 3, dw, dh);
            assert!(out.iter().all(|&v| v == 200), "{dw}x{dh}");
        }
    }

    #[test]
    fn resize_2x_shrink_is_the_2x2_mean() {
        // 4x2 single-channel -> 2x1: (a+b+c+d+2) >> 2.
        let src = [0u8, 1, 10, 20, 2, 3, 30, 41];
        assert_eq!(resize_linear_cv2(&src, 4, 2, 1, 2, 1), vec![2, 25]);
    }

    #[test]
    fn resize_upscale_2x_half_pixel_centres() {
        // 2 columns -> 4: positions -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
        let src = [0u8, 100, 0, 100];
        let out = resize_linear_cv2(&src, 2, 2, 1, 4, 2);
        assert_eq!(&out[..4], &[0, 25, 75, 100]);
    }

    #[test]
    fn resize_shrink_does_not_antialias() {
        // 1 bright column in 9 shrunk 3x: linear resampling at centres 1, 4, 7 sees it only
        // where a sample lands on it (an antialiasing filter would spread it).
        let mut src = vec![0u8; 9];
        src[4] = 255;
        assert_eq!(resize_linear_cv2(&src, 9, 1, 1, 3, 1), vec![0, 255, 0]);
    }

    #[test]
    fn vertical_mix_rounds_like_opencv() {
        assert_eq!(vmix(200 * 2048, 200 * 2048, 1024, 1024), 200);
        assert_eq!(vmix(255 * 2048, 0, 2048, 0), 255);
        // Truncated high products: 1 * 0.4 + 7 * 0.6 = 4.6 and 1 * 0.6 + 35 * 0.4 = 14.6 come
        // out 4 and 14 where exact rounding gives 5 and 15 (as cv2 does: seen on real images).
        assert_eq!(vmix(2048, 7 * 2048, 819, 1229), 4);
        assert_eq!(vmix(2048, 35 * 2048, 1229, 819), 14);
    }

    #[test]
    fn letterbox_pads_with_114_and_scales_to_unit() {
        let img = RgbImage::from_pixel(8, 4, image::Rgb([255, 0, 10]));
        let (rgb, t) = letterbox_rgb(&img, 16, 16);
        assert_eq!((t.resized_w, t.resized_h, t.pad_top), (16, 8, 4));
        assert_eq!(&rgb[..3], &[114, 114, 114]);
        let mid = (8 * 16 + 3) * 3;
        assert_eq!(&rgb[mid..mid + 3], &[255, 0, 10]);
        let (x, _) = letterbox(&img, 16, 16);
        assert_eq!(x.size(), vec![1, 3, 16, 16]);
        let v = Vec::<f32>::try_from(x.view([-1])).unwrap();
        assert_eq!(v[8 * 16 + 3], 1.0);
        assert_eq!(v[256 + 8 * 16 + 3], 0.0);
        assert_eq!(v[2 * 256 + 8 * 16 + 3], 10.0 / 255.0);
        assert_eq!(v[0], 114.0 / 255.0);
    }

    /// `[4 + nc, N]` channel-major from per-anchor (cx, cy, w, h, scores).
    fn raw(anchors: &[(f32, f32, f32, f32, Vec<f32>)]) -> Vec<f32> {
        let n = anchors.len();
        let nc = anchors[0].4.len();
        let mut v = vec![0f32; (4 + nc) * n];
        for (a, (cx, cy, w, h, s)) in anchors.iter().enumerate() {
            v[a] = *cx;
            v[n + a] = *cy;
            v[2 * n + a] = *w;
            v[3 * n + a] = *h;
            for (c, &sc) in s.iter().enumerate() {
                v[(4 + c) * n + a] = sc;
            }
        }
        v
    }

    #[test]
    fn decode_keeps_the_best_class_above_conf() {
        let v = raw(&[
            (50.0, 50.0, 20.0, 10.0, vec![0.1, 0.9, 0.3]),
            (10.0, 10.0, 4.0, 4.0, vec![0.25, 0.2, 0.1]), // not above conf 0.25
            (80.0, 20.0, 10.0, 10.0, vec![0.5, 0.1, 0.5]), // tie: first class
        ]);
        let c = candidates(&v, 3, 0.25).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0], rb(40.0, 45.0, 60.0, 55.0, 0.9, 1));
        assert_eq!((c[1].class_id, c[1].score), (0, 0.5));
        assert!(candidates(&v[1..], 3, 0.25).is_err());
    }

    #[test]
    fn nms_is_per_class_greedy_by_score() {
        let boxes = [
            rb(0.0, 0.0, 10.0, 10.0, 0.6, 0),
            rb(1.0, 0.0, 11.0, 10.0, 0.9, 0), // IoU with the first 9/11 > 0.7: the first goes
            rb(0.0, 0.0, 10.0, 10.0, 0.8, 1), // other class: kept
            rb(5.0, 0.0, 15.0, 10.0, 0.7, 0), // IoU with the second 6/14 < 0.7: kept
            rb(50.0, 50.0, 60.0, 60.0, 0.3, 0),
        ];
        assert_eq!(nms(&boxes, 0.7, 300), vec![1, 2, 3, 4]);
        assert_eq!(nms(&boxes, 0.7, 2), vec![1, 2]);
        // Threshold is strict: IoU exactly at it is kept.
        let same = [
            rb(0.0, 0.0, 2.0, 1.0, 0.9, 0),
            rb(0.0, 0.0, 1.0, 1.0, 0.8, 0),
        ];
        assert_eq!(nms(&same, 0.5, 300), vec![0, 1]);
        assert_eq!(nms(&same, 0.49, 300), vec![0]);
        // Equal scores keep input order.
        let tie = [
            rb(0.0, 0.0, 1.0, 1.0, 0.5, 0),
            rb(5.0, 5.0, 6.0, 6.0, 0.5, 0),
        ];
        assert_eq!(nms(&tie, 0.7, 300), vec![0, 1]);
    }

    #[test]
    fn decode_to_detections_end_to_end() {
        let v = raw(&[
            (320.0, 320.0, 100.0, 50.0, vec![0.95, 0.1]),
            (322.0, 320.0, 100.0, 50.0, vec![0.90, 0.1]), // duplicate of the first
            (100.0, 320.0, 40.0, 40.0, vec![0.1, 0.4]),
        ]);
        let opts = DetectOptions::default();
        let boxes = decode_raw(&v, 2, &opts).unwrap();
        assert_eq!(boxes.len(), 2);
        let t = LetterboxTransform::new(1280, 640, 640, 640); // gain 0.5, 160 px on top
        let names = vec!["cat".to_string()];
        let d = to_detections(&boxes, &t, &names);
        assert_eq!(d[0].label, "cat");
        assert_eq!(d[1].label, "class1");
        assert_eq!(d[0].bbox, BBox::new(540.0, 270.0, 200.0, 100.0));
        assert_eq!(d[1].bbox, BBox::new(160.0, 280.0, 80.0, 80.0));
    }

    #[test]
    fn config_is_parsed_and_non_detection_refused() {
        let p = Path::new("m.torchscript");
        let cfg = r#"{"description": "x", "stride": 32, "task": "detect", "batch": 1,
            "imgsz": [384, 640], "names": {"1": "b", "0": "a"}, "version": "8.4.190",
            "args": {"batch": 1, "nms": null}, "channels": 3, "end2end": false}"#;
        let info = ModelInfo::parse(cfg, p).unwrap();
        assert_eq!((info.input_h, info.input_w), (384, 640));
        assert_eq!(info.names, vec!["a", "b"]);
        assert_eq!(info.stride, Some(32));
        assert_eq!(info.version.as_deref(), Some("8.4.190"));
        let seg = cfg.replace("\"detect\"", "\"segment\"");
        assert!(matches!(
            ModelInfo::parse(&seg, p),
            Err(DetectorError::NotDetection { task, .. }) if task == "segment"
        ));
        let e2e = cfg.replace("\"end2end\": false", "\"end2end\": true");
        assert!(matches!(
            ModelInfo::parse(&e2e, p),
            Err(DetectorError::Unsupported { .. })
        ));
        let square = cfg.replace("[384, 640]", "320");
        assert_eq!(ModelInfo::parse(&square, p).unwrap().input_w, 320);
        assert!(ModelInfo::parse("not json", p).is_err());
        let gap = cfg.replace("\"1\": \"b\"", "\"2\": \"b\"");
        assert!(ModelInfo::parse(&gap, p).is_err());
    }

    #[test]
    fn a_file_that_is_not_an_export_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.torchscript");
        assert!(matches!(
            Detector::load(&p, Device::Cpu),
            Err(DetectorError::Missing { .. })
        ));
        std::fs::write(&p, b"not a zip").unwrap();
        assert!(matches!(
            Detector::load(&p, Device::Cpu),
            Err(DetectorError::NotUltralytics { .. })
        ));
        std::fs::write(sha256_path(&p), "00  x.torchscript\n").unwrap();
        assert!(matches!(
            Detector::load(&p, Device::Cpu),
            Err(DetectorError::Checksum { .. })
        ));
    }
}

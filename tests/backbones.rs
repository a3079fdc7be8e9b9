//! Backbone inference (issue 15): the exported TorchScript backbones embed as the tch-native
//! modules do, a damaged export is refused, the SIMD resize keeps the features the old resize
//! gave (cached embeddings stay valid), and camera JPEGs decode at DCT scale with their EXIF
//! orientation and the same features. Real images: emoji PNGs and the sample photos.

use std::path::{Path, PathBuf};

use tch::Tensor;
use yuxuan::ingest::images::{decode_file, decode_file_for_size, jpeg_scale_divisor};
use yuxuan::ml::backbone::{self, BackboneNet, Embedder, InputSpec, Runtime};
use yuxuan::ml::frozen::{self, FrozenBackbone, FrozenError, Variant};

use crate::common;

/// Min cosine similarity between matching rows of two `[N, D]` tensors.
fn min_cosine(a: &Tensor, b: &Tensor) -> f64 {
    let c = Tensor::cosine_similarity(a, b, 1, 1e-8);
    c.min().double_value(&[])
}

fn real_images() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = common::emoji(&common::EMOJI_CATS, 4)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let photos = yuxuan::assets::photos_dir();
    v.extend(
        ["chelsea.png", "coffee.png", "rocket.jpg", "camera.png"]
            .iter()
            .map(|f| photos.join(f)),
    );
    v
}

fn batch(paths: &[PathBuf], spec: &InputSpec) -> Tensor {
    let inputs: Vec<Vec<f32>> = paths
        .iter()
        .map(|p| backbone::load_input(p, spec).unwrap())
        .collect();
    backbone::batch_tensor(&inputs, spec.size)
}

#[test]
fn the_torchscript_backbones_embed_as_the_native_modules_do() {
    let paths = real_images();
    for net in [BackboneNet::MobilenetV2, BackboneNet::EfficientnetLite0] {
        let xs = batch(&paths, &net.input_spec());
        let native = net.load_with(tch::Device::Cpu, Runtime::Native).unwrap();
        let a = native.features(&xs).unwrap();
        assert_eq!(a.size(), vec![paths.len() as i64, net.dim()]);
        for variant in [
            Variant::OptimizeForInference,
            Variant::ChannelsLast,
            Variant::Fused,
        ] {
            let ts =
                FrozenBackbone::load_from(net, &frozen::manifest_path(net), Some(variant)).unwrap();
            let b = ts.features(&xs).unwrap();
            assert_eq!(a.size(), b.size(), "{net:?} {variant:?}");
            let cos = min_cosine(&a, &b);
            assert!(cos >= 0.999, "{net:?} {variant:?}: min cosine {cos}");
            // A batch of another size runs through the same module.
            let three = ts.features(&xs.narrow(0, 0, 3)).unwrap();
            assert!(
                min_cosine(&three, &b.narrow(0, 0, 3)) > 0.9999,
                "{net:?} {variant:?}"
            );
        }
        // What the product loads on the CPU is one of them.
        let fastest = net.load_with(tch::Device::Cpu, Runtime::Fastest).unwrap();
        assert!(min_cosine(&a, &fastest.features(&xs).unwrap()) >= 0.999);
    }
}

#[test]
fn a_damaged_or_missing_export_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let net = BackboneNet::MobilenetV2;
    let manifest = frozen::manifest_path(net);
    let copy = dir.path().join(manifest.file_name().unwrap());
    std::fs::copy(&manifest, &copy).unwrap();
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let file = m["files"]["optimize_for_inference"]["file"]
        .as_str()
        .unwrap();
    let mut bytes = std::fs::read(manifest.with_file_name(file)).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(dir.path().join(file), &bytes).unwrap();
    let err =
        FrozenBackbone::load_from(net, &copy, Some(Variant::OptimizeForInference)).unwrap_err();
    assert!(matches!(err, FrozenError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("make setup"), "{err}");
    // The other variant's file is not there at all.
    let err = FrozenBackbone::load_from(net, &copy, Some(Variant::ChannelsLast)).unwrap_err();
    assert!(matches!(err, FrozenError::Missing { .. }), "{err}");
    let err = FrozenBackbone::load_from(net, &dir.path().join("none.json"), None).unwrap_err();
    assert!(matches!(err, FrozenError::Missing { .. }), "{err}");
}

/// The input as `preprocess` made it before the SIMD resize (image's Triangle filter on RGBA,
/// alpha composited on white afterwards).
fn old_preprocess(img: &image::DynamicImage, spec: &InputSpec) -> Vec<f32> {
    let s = spec.size;
    let rgba = img
        .resize_exact(s, s, image::imageops::FilterType::Triangle)
        .to_rgba8();
    let plane = (s * s) as usize;
    let mut out = vec![0f32; 3 * plane];
    for (i, px) in rgba.pixels().enumerate() {
        let a = px[3] as f32 / 255.0;
        for c in 0..3 {
            let v = (px[c] as f32 / 255.0) * a + (1.0 - a);
            out[c * plane + i] = (v - spec.mean[c]) / spec.std[c];
        }
    }
    out
}

#[test]
fn the_simd_resize_keeps_the_features_of_the_cached_embeddings() {
    let paths = real_images();
    let net = BackboneNet::MobilenetV2;
    let spec = net.input_spec();
    let old: Vec<Vec<f32>> = paths
        .iter()
        .map(|p| old_preprocess(&decode_file(p, 0).unwrap(), &spec))
        .collect();
    let m = net.load(tch::Device::Cpu).unwrap();
    let a = m
        .features(&backbone::batch_tensor(&old, spec.size))
        .unwrap();
    let b = m.features(&batch(&paths, &spec)).unwrap();
    let cos = min_cosine(&a, &b);
    assert!(cos >= 0.995, "min cosine old vs new resize {cos}");
}

/// A 12-megapixel camera-like JPEG made from a real photo, with EXIF orientation `o`.
fn camera_jpeg(path: &Path, o: u16) {
    use image::ImageEncoder;
    let src = image::open(yuxuan::assets::photos_dir().join("chelsea.png"))
        .unwrap()
        .to_rgb8();
    let big = image::imageops::resize(&src, 4000, 3000, image::imageops::FilterType::Triangle);
    let exif = common::exif_orientation(o);
    let mut buf = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 90);
    enc.set_exif_metadata(exif).unwrap();
    enc.write_image(big.as_raw(), 4000, 3000, image::ExtendedColorType::Rgb8)
        .unwrap();
    std::fs::write(path, buf).unwrap();
}

#[test]
fn a_camera_jpeg_decodes_at_dct_scale_upright_with_the_same_features() {
    assert_eq!(jpeg_scale_divisor(4000, 3000, 224), 8);
    assert_eq!(jpeg_scale_divisor(2000, 1000, 224), 4);
    assert_eq!(jpeg_scale_divisor(4000, 300, 224), 1);
    assert_eq!(jpeg_scale_divisor(64, 64, 224), 1);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("photo.jpg");
    camera_jpeg(&p, 6); // rotate 90 degrees clockwise
    let full = decode_file(&p, 0).unwrap();
    assert_eq!((full.width(), full.height()), (3000, 4000));
    let small = decode_file_for_size(&p, 224, 0).unwrap();
    assert_eq!(
        (small.width(), small.height()),
        (375, 500),
        "1/8 scale, upright"
    );
    // The same picture: the full decode shrunk to the same size differs by little.
    let shrunk = full
        .resize_exact(375, 500, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let s = small.to_rgb8();
    let mad: f64 = shrunk
        .as_raw()
        .iter()
        .zip(s.as_raw())
        .map(|(a, b)| (*a as f64 - *b as f64).abs())
        .sum::<f64>()
        / s.as_raw().len() as f64;
    assert!(mad < 4.0, "mean abs difference {mad} levels");
    // And the model sees the same thing.
    let net = BackboneNet::MobilenetV2;
    let spec = net.input_spec();
    let m = net.load(tch::Device::Cpu).unwrap();
    let a = m
        .features(&backbone::batch_tensor(
            &[backbone::preprocess(&full, &spec)],
            spec.size,
        ))
        .unwrap();
    let b = m
        .features(&backbone::batch_tensor(
            &[backbone::load_input(&p, &spec).unwrap()],
            spec.size,
        ))
        .unwrap();
    let cos = min_cosine(&a, &b);
    assert!(cos >= 0.99, "cosine full vs DCT-scaled decode {cos}");
}

/// LibTorch's CUDA half is loaded on demand (dlopen in `ml::device::load_cuda`, not linked):
/// once loaded, a CUDA tensor works on a machine with a GPU, and on one without it fails for
/// want of a GPU or driver, never because this LibTorch "has no CUDA support" (which is what
/// an unregistered CUDA backend says). A CPU-only LibTorch has no `libtorch_cuda.so` to load.
#[test]
fn the_cuda_half_of_libtorch_registers_when_loaded_on_demand() {
    yuxuan::ml::device::load_cuda();
    let dir = yuxuan::ml::device::loaded_libtorch_dir().expect("libtorch is mapped");
    let cuda_build = dir.join("libtorch_cuda.so").is_file();
    match Tensor::f_zeros([2], (tch::Kind::Float, tch::Device::Cuda(0))) {
        Ok(t) => {
            assert!(cuda_build);
            assert_eq!(t.device(), tch::Device::Cuda(0));
        }
        Err(e) => {
            let msg = e.to_string();
            let first = msg.lines().next().unwrap_or("");
            if cuda_build {
                // What the registered backend says on a machine without a GPU (raised inside
                // libc10_cuda / libtorch_cuda), not the dispatcher's "Could not run ... from
                // the 'CUDA' backend" of an unregistered one.
                let no_gpu = [
                    "NVIDIA driver",
                    "no CUDA GPUs",
                    "CUDA-capable device",
                    "CUDA driver",
                ];
                assert!(no_gpu.iter().any(|s| first.contains(s)), "{first}");
                assert!(
                    msg.contains("libtorch_cuda") || msg.contains("libc10_cuda"),
                    "{msg}"
                );
            }
        }
    }
}

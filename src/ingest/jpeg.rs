//! JPEGs decoded at 1/2, 1/4 or 1/8 scale in the DCT domain for the models, with libjpeg-turbo
//! (the `mozjpeg` crate builds its decoder from source, SIMD where `nasm` is installed): the
//! library Pillow's `draft()` uses. On 12-megapixel camera files it takes 17 ms a file where
//! the pure-Rust `jpeg-decoder` took 28 (entropy decoding dominates at any scale).
//!
//! libjpeg reports a fatal error through `error_exit`, which the crate turns into an unwind
//! caught here; a warning (premature end of data, corrupt entropy data) makes the file go to
//! the full decoder instead, so a damaged file is refused with that decoder's words rather
//! than read half grey.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use mozjpeg_sys as ffi;

use super::images::ImageFileError;

/// The largest DCT scale divisor (8, 4, 2 or 1) that keeps both sides >= `min_side`.
pub fn scale_divisor(width: u32, height: u32, min_side: u32) -> u32 {
    [8u32, 4, 2]
        .into_iter()
        .find(|d| width.div_ceil(*d) >= min_side && height.div_ceil(*d) >= min_side)
        .unwrap_or(1)
}

thread_local! {
    /// Warnings libjpeg emitted during this thread's current decode.
    static WARNINGS: Cell<u32> = const { Cell::new(0) };
}

extern "C-unwind" fn count_warning(
    _cinfo: &mut ffi::jpeg_common_struct,
    level: std::os::raw::c_int,
) {
    if level < 0 {
        WARNINGS.with(|w| w.set(w.get() + 1));
    }
}

extern "C-unwind" fn fatal(_cinfo: &mut ffi::jpeg_common_struct) {
    // Not a panic: the panic hook stays quiet; caught in `decode_scaled` (which sends the
    // file to the full decoder, so the message is not needed).
    std::panic::resume_unwind(Box::new("libjpeg fatal error"));
}

fn error_mgr() -> ffi::jpeg_error_mgr {
    // SAFETY: jpeg_std_error fills every field of a zeroed manager.
    let mut err: ffi::jpeg_error_mgr = unsafe { std::mem::zeroed() };
    unsafe { ffi::jpeg_std_error(&mut err) };
    err.error_exit = Some(fatal);
    err.emit_message = Some(count_warning);
    err
}

/// `bytes` (a JPEG) decoded at the largest DCT scale keeping both sides >= `min_side`, EXIF
/// orientation applied. `Ok(None)`: not for this decoder (full scale anyway, a colour space
/// other than YCbCr/RGB/grey, or libjpeg had warnings); the caller decodes it in full.
pub fn decode_scaled(
    bytes: &[u8],
    min_side: u32,
    max_pixels: u64,
) -> Result<Option<image::DynamicImage>, ImageFileError> {
    WARNINGS.with(|w| w.set(0));
    let run = catch_unwind(AssertUnwindSafe(|| {
        decode_inner(bytes, min_side, max_pixels)
    }));
    let out = match run {
        Ok(r) => r?,
        // A fatal libjpeg error: the full decoder words it (or reads what libjpeg could not).
        Err(_) => return Ok(None),
    };
    if WARNINGS.with(|w| w.get()) > 0 {
        return Ok(None);
    }
    Ok(out)
}

fn decode_inner(
    bytes: &[u8],
    min_side: u32,
    max_pixels: u64,
) -> Result<Option<image::DynamicImage>, ImageFileError> {
    let corrupt = |e: std::io::Error| ImageFileError::Corrupt(e.to_string());
    let mut d = mozjpeg::Decompress::with_err(error_mgr())
        .with_markers(&[mozjpeg::Marker::APP(1)])
        .from_mem(bytes)
        .map_err(corrupt)?;
    let (w, h) = (d.width() as u32, d.height() as u32);
    if w as u64 * h as u64 > max_pixels {
        return Err(ImageFileError::TooLarge {
            width: w,
            height: h,
            limit: max_pixels,
        });
    }
    let div = scale_divisor(w, h, min_side);
    let grey = match d.color_space() {
        ffi::J_COLOR_SPACE::JCS_GRAYSCALE => true,
        ffi::J_COLOR_SPACE::JCS_YCbCr | ffi::J_COLOR_SPACE::JCS_RGB => false,
        _ => return Ok(None), // CMYK / YCCK: the full decoder converts them
    };
    if div == 1 {
        return Ok(None);
    }
    let orientation = d
        .markers()
        .filter(|m| matches!(m.marker, mozjpeg::Marker::APP(1)))
        .find_map(|m| m.data.strip_prefix(b"Exif\0\0"))
        .and_then(image::metadata::Orientation::from_exif_chunk);
    d.scale((8 / div) as u8);
    let mut s = if grey { d.grayscale() } else { d.rgb() }.map_err(corrupt)?;
    let (sw, sh) = (s.width() as u32, s.height() as u32);
    let px: Vec<u8> = s.read_scanlines().map_err(corrupt)?;
    s.finish().map_err(corrupt)?;
    let mut img = if grey {
        image::GrayImage::from_raw(sw, sh, px).map(image::DynamicImage::ImageLuma8)
    } else {
        image::RgbImage::from_raw(sw, sh, px).map(image::DynamicImage::ImageRgb8)
    }
    .ok_or_else(|| ImageFileError::Corrupt("truncated pixel data".into()))?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(Some(img))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(img: image::DynamicImage) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    }

    fn gradient(w: u32, h: u32) -> image::RgbImage {
        image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 128])
        })
    }

    #[test]
    fn scaled_decode_keeps_both_sides_at_the_input_size_and_the_picture() {
        let bytes = jpeg(gradient(1024, 768).into());
        let img = decode_scaled(&bytes, 224, u64::MAX).unwrap().unwrap();
        // 1/4 would give 192 rows (< 224): 1/2.
        assert_eq!((img.width(), img.height()), (512, 384));
        let full = image::load_from_memory(&bytes).unwrap().to_rgb8();
        let small = img.to_rgb8();
        // The same picture: pixel (x, y) of the half-size image is near (2x, 2y) of the full.
        for (x, y) in [(10, 10), (250, 190), (500, 370)] {
            let a = small.get_pixel(x, y).0;
            let b = full.get_pixel(2 * x, 2 * y).0;
            for c in 0..3 {
                assert!(
                    (a[c] as i32 - b[c] as i32).abs() <= 12,
                    "{x},{y}: {a:?} vs {b:?}"
                );
            }
        }
        let grey = jpeg(image::DynamicImage::ImageRgb8(gradient(2000, 2000)).grayscale());
        let g = decode_scaled(&grey, 224, u64::MAX).unwrap().unwrap();
        assert_eq!(
            (g.width(), g.height(), g.color()),
            (250, 250, image::ColorType::L8)
        );
    }

    #[test]
    fn small_damaged_or_huge_files_are_left_to_the_full_decoder_or_refused() {
        let bytes = jpeg(gradient(1024, 1024).into());
        // Full scale anyway.
        assert!(decode_scaled(&bytes, 1000, u64::MAX).unwrap().is_none());
        // Truncated: libjpeg would pad it with grey and warn; the full decoder decides instead.
        assert!(decode_scaled(&bytes[..bytes.len() / 2], 224, u64::MAX)
            .unwrap()
            .is_none());
        // Garbage after the SOI marker: a fatal libjpeg error, caught.
        let mut junk = bytes[..2].to_vec();
        junk.extend((0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8));
        assert!(decode_scaled(&junk, 224, u64::MAX).unwrap().is_none());
        // Over the pixel limit: refused before any pixel is decoded.
        assert!(matches!(
            decode_scaled(&bytes, 224, 1000),
            Err(ImageFileError::TooLarge {
                width: 1024,
                height: 1024,
                ..
            })
        ));
        assert_eq!(scale_divisor(4000, 3000, 224), 8);
        assert_eq!(scale_divisor(300, 300, 224), 1);
    }
}

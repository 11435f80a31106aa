//! Thumbnails with the `image` crate, bounded so that neither a large
//! image nor a crafted one can exhaust memory: the declared size is
//! checked against the pixel limit before any pixel is decoded, metadata
//! (ICC profiles, text chunks) may only take a small budget, and one decode
//! renders every configured size ([`generate_all`]). Requested sizes are
//! served by the closest configured one ([`select`]), as Synapse does.

use std::{io::Cursor, path::Path};

use image::{
    DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, imageops::FilterType,
};

pub use crate::config::{ThumbnailMethod as Method, ThumbnailSize};

/// What a decoder may allocate besides the pixels: ICC profiles, EXIF,
/// text chunks. Real profiles take a few KiB to a few hundred; a crafted
/// PNG can inflate one to hundreds of MiB from a small file.
const METADATA_BUDGET: u64 = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    #[error("not an image we can thumbnail")]
    NotAnImage,
    #[error("image too large to thumbnail ({0})")]
    TooLarge(String),
    #[error("cannot decode image: {0}")]
    Decode(String),
}

impl From<ImageError> for ThumbnailError {
    fn from(e: ImageError) -> Self {
        match e {
            ImageError::Limits(e) => ThumbnailError::TooLarge(e.to_string()),
            other => ThumbnailError::Decode(other.to_string()),
        }
    }
}

/// A generated thumbnail: the configured size it stands for, its encoded
/// bytes and their content type.
pub struct Thumbnail {
    pub size: ThumbnailSize,
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
}

/// The configured thumbnail that serves a request, as Synapse chooses
/// among its generated thumbnails: of the requested method (any if none
/// is configured), those reaching the requested width or height before
/// the others; among them, for crop, the closest in aspect ratio, then one
/// covering the whole box; then the closest in size. `sizes` must not
/// be empty (the configuration refuses an empty list).
pub fn select(sizes: &[ThumbnailSize], width: u32, height: u32, method: Method) -> ThumbnailSize {
    let (dw, dh) = (i64::from(width), i64::from(height));
    let same_method = sizes.iter().any(|s| s.method == method);
    let quality = |s: &ThumbnailSize| {
        let (tw, th) = (i64::from(s.width), i64::from(s.height));
        let smaller = !(tw >= dw || th >= dh);
        let size = ((dw - tw) * (dh - th)).abs();
        if method == Method::Crop {
            let aspect = (dw * th - dh * tw).abs();
            let covers_not = !(dw <= tw && dh <= th);
            (smaller, aspect, covers_not, size)
        } else {
            (smaller, 0, false, size)
        }
    };
    sizes
        .iter()
        .filter(|s| !same_method || s.method == method)
        .min_by_key(|s| quality(s))
        .copied()
        .unwrap_or(ThumbnailSize::DEFAULTS[0])
}

/// Decodes `path` (JPEG, PNG, GIF, WebP) once, within the limits, and
/// renders every size in `sizes`. Blocking: run it off the async threads,
/// and bound how many run at once (each holds a whole decoded image).
pub fn generate_all(
    path: &Path,
    sizes: &[ThumbnailSize],
    max_pixels: u64,
) -> Result<Vec<Thumbnail>, ThumbnailError> {
    let mut reader = ImageReader::open(path)
        .map_err(|e| ThumbnailError::Decode(e.to_string()))?
        .with_guessed_format()
        .map_err(|e| ThumbnailError::Decode(e.to_string()))?;
    let format = reader.format().ok_or(ThumbnailError::NotAnImage)?;
    if !matches!(
        format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Gif | ImageFormat::WebP
    ) {
        return Err(ThumbnailError::NotAnImage);
    }
    if format == ImageFormat::Png
        && super::png_metadata::exceeds(path, METADATA_BUDGET)
            .map_err(|e| ThumbnailError::Decode(e.to_string()))?
    {
        return Err(ThumbnailError::TooLarge(format!(
            "its metadata inflates to more than {METADATA_BUDGET} bytes"
        )));
    }
    // The header and the metadata before the pixels, within the metadata
    // budget (the PNG decoder keeps this budget for the chunks it meets
    // later too).
    let mut limits = Limits::default();
    limits.max_alloc = Some(METADATA_BUDGET);
    reader.limits(limits);
    let mut decoder = reader.into_decoder()?;
    let (w, h) = decoder.dimensions();
    let pixels = u64::from(w) * u64::from(h);
    if pixels > max_pixels {
        return Err(ThumbnailError::TooLarge(format!(
            "{w} x {h} pixels, more than {max_pixels}"
        )));
    }
    let mut limits = Limits::default();
    limits.max_alloc = Some(decoder.total_bytes().saturating_add(METADATA_BUDGET));
    decoder.set_limits(limits)?;
    let image = DynamicImage::from_decoder(decoder)?;
    let image = reduce(image, sizes);
    sizes
        .iter()
        .map(|&size| encode(size, render(&image, size), format))
        .collect()
}

/// The image shrunk (with the fast sampling filter) to what the largest
/// configured size needs, so that the full-size pixels are freed at once
/// and every size is then rendered from a small image.
fn reduce(image: DynamicImage, sizes: &[ThumbnailSize]) -> DynamicImage {
    let (w, h) = (f64::from(image.width()), f64::from(image.height()));
    let needed = sizes
        .iter()
        .map(|s| {
            let (fw, fh) = (f64::from(s.width) / w, f64::from(s.height) / h);
            match s.method {
                Method::Scale => fw.min(fh),
                Method::Crop => fw.max(fh),
            }
        })
        .fold(0.0_f64, f64::max);
    // Only worth it when the image is at least twice too large; the final
    // resize then has enough pixels for a good filter.
    if needed > 0.5 {
        return image;
    }
    let (rw, rh) = ((w * needed).ceil() as u32, (h * needed).ceil() as u32);
    image.thumbnail_exact(rw.max(1), rh.max(1))
}

/// One size from the (reduced) image; never upscaled.
fn render(image: &DynamicImage, size: ThumbnailSize) -> DynamicImage {
    match size.method {
        Method::Scale if image.width() <= size.width && image.height() <= size.height => {
            image.clone()
        }
        Method::Scale => image.resize(size.width, size.height, FilterType::Triangle),
        Method::Crop => {
            let (tw, th) = (
                size.width.min(image.width()),
                size.height.min(image.height()),
            );
            image.resize_to_fill(tw, th, FilterType::Triangle)
        }
    }
}

fn encode(
    size: ThumbnailSize,
    image: DynamicImage,
    source: ImageFormat,
) -> Result<Thumbnail, ThumbnailError> {
    let (width, height) = (image.width(), image.height());
    let mut bytes = Vec::new();
    // Photographs stay JPEG; anything that may have transparency is PNG.
    let (format, content_type) = if source == ImageFormat::Jpeg {
        (ImageFormat::Jpeg, "image/jpeg")
    } else {
        (ImageFormat::Png, "image/png")
    };
    let image = if format == ImageFormat::Jpeg {
        DynamicImage::ImageRgb8(image.to_rgb8())
    } else {
        image
    };
    image.write_to(&mut Cursor::new(&mut bytes), format)?;
    Ok(Thumbnail {
        size,
        bytes,
        content_type,
        width,
        height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(dir: &Path, w: u32, h: u32) -> std::path::PathBuf {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 99])
        });
        let path = dir.join(format!("{w}x{h}.png"));
        img.save(&path).unwrap();
        path
    }

    fn size(width: u32, height: u32, method: Method) -> ThumbnailSize {
        ThumbnailSize {
            width,
            height,
            method,
        }
    }

    #[test]
    fn requests_snap_to_the_closest_configured_size() {
        let d = &ThumbnailSize::DEFAULTS;
        let pick = |w, h, m| {
            let s = select(d, w, h, m);
            (s.width, s.height, s.method)
        };
        assert_eq!(pick(1000, 1000, Method::Scale), (800, 600, Method::Scale));
        assert_eq!(pick(100, 100, Method::Scale), (320, 240, Method::Scale));
        assert_eq!(pick(640, 480, Method::Scale), (640, 480, Method::Scale));
        assert_eq!(pick(1, 1, Method::Scale), (320, 240, Method::Scale));
        assert_eq!(pick(20, 20, Method::Crop), (32, 32, Method::Crop));
        assert_eq!(pick(40, 40, Method::Crop), (96, 96, Method::Crop));
        assert_eq!(pick(1000, 1000, Method::Crop), (96, 96, Method::Crop));
        // No size of that method configured: the closest of the others.
        let only_scale = [size(320, 240, Method::Scale), size(800, 600, Method::Scale)];
        assert_eq!(select(&only_scale, 32, 32, Method::Crop), only_scale[0]);
    }

    #[test]
    fn one_decode_renders_every_size_without_upscaling() {
        let dir = tempfile::tempdir().unwrap();
        let src = png(dir.path(), 2000, 1000);
        let all = generate_all(&src, &ThumbnailSize::DEFAULTS, 40_000_000).unwrap();
        let dims: Vec<_> = all.iter().map(|t| (t.width, t.height)).collect();
        assert_eq!(
            dims,
            [(32, 32), (96, 96), (320, 160), (640, 320), (800, 400)]
        );
        let decoded = image::load_from_memory(&all[1].bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (96, 96));
        assert_eq!(all[4].content_type, "image/png");

        let small = png(dir.path(), 20, 10);
        let all = generate_all(&small, &ThumbnailSize::DEFAULTS, 40_000_000).unwrap();
        let dims: Vec<_> = all.iter().map(|t| (t.width, t.height)).collect();
        assert_eq!(dims, [(20, 10), (20, 10), (20, 10), (20, 10), (20, 10)]);
    }

    #[test]
    fn non_images_and_bombs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sizes = &ThumbnailSize::DEFAULTS;
        let text = dir.path().join("a.txt");
        std::fs::write(&text, b"just some text, not an image").unwrap();
        assert!(matches!(
            generate_all(&text, sizes, 40_000_000),
            Err(ThumbnailError::NotAnImage)
        ));
        // A PNG header claiming 100000 x 100000 pixels, with no data behind it.
        let header = build_png_header(100_000, 100_000);
        let path = dir.path().join("bomb.png");
        std::fs::write(&path, header).unwrap();
        let result = generate_all(&path, sizes, 40_000_000);
        assert!(
            matches!(result, Err(ThumbnailError::TooLarge(_))),
            "{:?}",
            result.err()
        );
        // A real image over a configured limit.
        let src = png(dir.path(), 200, 100);
        assert!(matches!(
            generate_all(&src, sizes, 10_000),
            Err(ThumbnailError::TooLarge(_))
        ));
    }

    /// A PNG signature, an IHDR chunk for the given size, and no pixels.
    fn build_png_header(w: u32, h: u32) -> Vec<u8> {
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(b"IHDR");
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let crc = crc32(&ihdr);
        let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
        out.extend_from_slice(&13u32.to_be_bytes());
        out.extend_from_slice(&ihdr);
        out.extend_from_slice(&crc.to_be_bytes());
        // An empty IDAT and the end marker: a decoder reads the header, and
        // would then try to allocate the whole image.
        for name in [b"IDAT", b"IEND"] {
            out.extend_from_slice(&0u32.to_be_bytes());
            out.extend_from_slice(name);
            out.extend_from_slice(&crc32(name).to_be_bytes());
        }
        out
    }

    fn crc32(data: &[u8]) -> u32 {
        // Test-only helper to forge a header; the server never computes CRCs.
        let mut crc = 0xffff_ffffu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}

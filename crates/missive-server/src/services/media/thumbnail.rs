//! Thumbnails with the `image` crate, with limits so that a decompression
//! bomb cannot exhaust memory.

use std::{io::Cursor, path::Path};

use image::{DynamicImage, ImageFormat, ImageReader, Limits, imageops::FilterType};

/// Largest source image we decode, in pixels (about 8000 x 5000).
pub const MAX_SOURCE_PIXELS: u64 = 40_000_000;
/// Largest thumbnail side we generate.
pub const MAX_THUMBNAIL_SIDE: u32 = 1600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Fit inside the box, keeping the aspect ratio.
    Scale,
    /// Fill the box exactly, cropping the overflow.
    Crop,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Scale => "scale",
            Method::Crop => "crop",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    #[error("not an image we can thumbnail")]
    NotAnImage,
    #[error("image too large to thumbnail ({0} pixels)")]
    TooLarge(u64),
    #[error("cannot decode image: {0}")]
    Decode(String),
}

/// A generated thumbnail: encoded bytes and their content type.
pub struct Thumbnail {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Decodes `path` (JPEG, PNG, GIF, WebP) within limits and renders a
/// thumbnail. Blocking: run it off the async threads.
pub fn generate(
    path: &Path,
    width: u32,
    height: u32,
    method: Method,
) -> Result<Thumbnail, ThumbnailError> {
    let reader = ImageReader::open(path)
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
    // Check the declared size before decoding anything.
    let (w, h) = ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| ThumbnailError::Decode(e.to_string()))?
        .into_dimensions()
        .map_err(|e| ThumbnailError::Decode(e.to_string()))?;
    let pixels = u64::from(w) * u64::from(h);
    if pixels > MAX_SOURCE_PIXELS {
        return Err(ThumbnailError::TooLarge(pixels));
    }
    let mut reader = reader;
    let mut limits = Limits::default();
    limits.max_image_width = Some(w.max(1));
    limits.max_image_height = Some(h.max(1));
    limits.max_alloc = Some(MAX_SOURCE_PIXELS * 4 + 64 * 1024 * 1024);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|e| ThumbnailError::Decode(e.to_string()))?;

    let (tw, th) = (
        width.clamp(1, MAX_THUMBNAIL_SIDE),
        height.clamp(1, MAX_THUMBNAIL_SIDE),
    );
    let thumb = match method {
        // Never upscale: a small image is its own thumbnail.
        Method::Scale if image.width() <= tw && image.height() <= th => image,
        Method::Scale => image.resize(tw, th, FilterType::Triangle),
        Method::Crop => {
            let (tw, th) = (tw.min(image.width()), th.min(image.height()));
            image.resize_to_fill(tw, th, FilterType::Triangle)
        }
    };
    encode(thumb, format)
}

fn encode(image: DynamicImage, source: ImageFormat) -> Result<Thumbnail, ThumbnailError> {
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
    image
        .write_to(&mut Cursor::new(&mut bytes), format)
        .map_err(|e| ThumbnailError::Decode(e.to_string()))?;
    Ok(Thumbnail {
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

    #[test]
    fn scale_keeps_the_aspect_ratio_and_crop_fills_the_box() {
        let dir = tempfile::tempdir().unwrap();
        let src = png(dir.path(), 400, 200);
        let t = generate(&src, 100, 100, Method::Scale).unwrap();
        assert_eq!((t.width, t.height, t.content_type), (100, 50, "image/png"));
        let t = generate(&src, 64, 64, Method::Crop).unwrap();
        assert_eq!((t.width, t.height), (64, 64));
        let decoded = image::load_from_memory(&t.bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (64, 64));
    }

    #[test]
    fn small_images_are_not_upscaled() {
        let dir = tempfile::tempdir().unwrap();
        let src = png(dir.path(), 20, 10);
        let t = generate(&src, 640, 480, Method::Scale).unwrap();
        assert_eq!((t.width, t.height), (20, 10));
    }

    #[test]
    fn non_images_and_bombs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("a.txt");
        std::fs::write(&text, b"just some text, not an image").unwrap();
        assert!(matches!(
            generate(&text, 32, 32, Method::Scale),
            Err(ThumbnailError::NotAnImage)
        ));
        // A PNG header claiming 100000 x 100000 pixels, with no data behind it.
        let header = build_png_header(100_000, 100_000);
        let path = dir.path().join("bomb.png");
        std::fs::write(&path, header).unwrap();
        let result = generate(&path, 32, 32, Method::Scale);
        assert!(
            matches!(result, Err(ThumbnailError::TooLarge(_))),
            "{:?}",
            result.err()
        );
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

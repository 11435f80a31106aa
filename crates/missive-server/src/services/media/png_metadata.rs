//! The inflated size of a PNG's compressed metadata (the `iCCP` profile,
//! `zTXt` text), measured without keeping it, so that a small file whose
//! metadata inflates to hundreds of MiB is refused before it is decoded.
//!
//! The `png` decoder bounds what it inflates by its allocation limit, but
//! silently drops a profile over it and decodes the image anyway; this
//! check turns such a file into a refusal, as an over-limit pixel count is.

use std::{
    fs::File,
    io::{self, BufReader, Read},
    path::Path,
};

const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];

/// Whether the compressed metadata of the PNG at `path` inflates to more
/// than `budget` bytes in all. Not a PNG, or a truncated one: `Ok(false)`
/// (the decoder reports those).
pub fn exceeds(path: &Path, budget: u64) -> io::Result<bool> {
    let mut file = BufReader::new(File::open(path)?);
    let mut signature = [0u8; 8];
    if file.read_exact(&mut signature).is_err() || signature != SIGNATURE {
        return Ok(false);
    }
    let mut inflated = 0u64;
    loop {
        let mut header = [0u8; 8];
        if file.read_exact(&mut header).is_err() {
            return Ok(false);
        }
        let length = u64::from(u32::from_be_bytes([
            header[0], header[1], header[2], header[3],
        ]));
        let kind = &header[4..8];
        if kind == b"IEND" {
            return Ok(false);
        }
        if kind == b"iCCP" || kind == b"zTXt" {
            let mut data = (&mut file).take(length);
            inflated += inflated_size(&mut data, budget - inflated + 1)?;
            if inflated > budget {
                return Ok(true);
            }
            // Whatever the inflater did not read, and the CRC.
            let rest = data.limit();
            file.seek_relative(rest as i64 + 4)?;
        } else {
            file.seek_relative(length as i64 + 4)?;
        }
    }
}

/// The inflated size (up to `cap`) of a chunk made of a keyword, its NUL,
/// a compression method byte and a zlib stream.
fn inflated_size(chunk: &mut impl Read, cap: u64) -> io::Result<u64> {
    let mut byte = [0u8; 1];
    // The keyword (at most 79 bytes) and its NUL.
    for _ in 0..80 {
        chunk.read_exact(&mut byte)?;
        if byte[0] == 0 {
            break;
        }
    }
    chunk.read_exact(&mut byte)?; // compression method: 0, zlib
    let mut inflater = flate2::read::ZlibDecoder::new(chunk).take(cap);
    // A corrupt stream counts for what it inflated; the decoder refuses it.
    Ok(io::copy(&mut inflater, &mut io::sink()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
        out
    }

    fn png_with(kind: &[u8; 4], inflated: usize) -> Vec<u8> {
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(&vec![0u8; inflated]).unwrap();
        let mut data = b"name\0\0".to_vec();
        data.extend_from_slice(&zlib.finish().unwrap());
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]));
        out.extend_from_slice(&chunk(kind, &data));
        out.extend_from_slice(&chunk(b"IDAT", &[]));
        out.extend_from_slice(&chunk(b"IEND", &[]));
        out
    }

    #[test]
    fn metadata_over_the_budget_is_found_without_keeping_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.png");
        for (kind, size, over) in [
            (b"iCCP", 2000, false),
            (b"iCCP", 5000, true),
            (b"zTXt", 5000, true),
            (b"tEXt", 5000, false),
        ] {
            std::fs::write(&path, png_with(kind, size)).unwrap();
            assert_eq!(exceeds(&path, 4096).unwrap(), over, "{kind:?} {size}");
        }
        std::fs::write(&path, b"not a png").unwrap();
        assert!(!exceeds(&path, 4096).unwrap());
    }
}

//! Layer compression: detection by magic bytes, decompression and compression.

use std::io::{self, BufRead, BufReader, Read, Write};

/// A layer compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

impl Compression {
    /// Detect from the first bytes of a stream.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// OCI layer media type for this compression.
    pub fn oci_layer_type(self) -> &'static str {
        match self {
            Compression::None => crate::media::OCI_LAYER,
            Compression::Gzip => crate::media::OCI_LAYER_GZIP,
            Compression::Zstd => crate::media::OCI_LAYER_ZSTD,
        }
    }

    /// Docker layer media type for this compression.
    pub fn docker_layer_type(self) -> &'static str {
        match self {
            Compression::None => crate::media::DOCKER_LAYER,
            Compression::Gzip => crate::media::DOCKER_LAYER_GZIP,
            Compression::Zstd => crate::media::DOCKER_LAYER_ZSTD,
        }
    }
}

/// Wrap a reader so it yields uncompressed bytes, detecting the compression by magic.
pub fn decompress<'a, R: Read + 'a>(r: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut br = BufReader::with_capacity(256 * 1024, r);
    let c = Compression::detect(br.fill_buf()?);
    let out: Box<dyn Read + 'a> = match c {
        Compression::None => Box::new(br),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(br)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(br)?),
    };
    Ok((c, out))
}

/// [`decompress`] for a reader that crosses threads, the result bounded to `limit` bytes.
pub fn decompress_bounded<'a, R: Read + Send + 'a>(
    r: R,
    limit: u64,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    bounded_buffered(BufReader::with_capacity(256 * 1024, r), limit)
}

/// [`decompress_bounded`] over a reader that is already buffered (no second buffer, no copy
/// through it).
fn bounded_buffered<'a, R: BufRead + Send + 'a>(
    mut br: R,
    limit: u64,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    let c = Compression::detect(br.fill_buf()?);
    Ok(match c {
        Compression::None => Box::new(Bounded::new(br, limit)),
        Compression::Gzip => Box::new(Bounded::new(
            flate2::bufread::MultiGzDecoder::new(br),
            limit,
        )),
        Compression::Zstd => Box::new(Bounded::new(
            zstd::stream::read::Decoder::with_buffer(br)?,
            limit,
        )),
    })
}

/// Whether `head` starts a bzip2 stream: `BZh1`..`BZh9`, then a block's or the end's magic (a
/// plain tar whose first name starts with `BZh` is not one).
fn is_bzip2(head: &[u8]) -> bool {
    head.len() >= 10
        && head.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&head[3])
        && (head[4..10] == [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]
            || head[4..10] == [0x17, 0x72, 0x45, 0x38, 0x50, 0x90])
}

/// xz's stream header magic.
const XZ_MAGIC: [u8; 6] = [0xfd, b'7', b'z', b'X', b'Z', 0];

/// The memory an xz stream's dictionary may take (`xz -9` needs 64 MiB).
const XZ_MEM_LIMIT_KB: u32 = 256 * 1024;

/// [`decompress_bounded`] for archives people hand over (a build context, a file `ADD` unpacks),
/// which Docker also takes bzip2 or xz compressed.
pub fn decompress_archive<'a, R: Read + Send + 'a>(
    r: R,
    limit: u64,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    decompress_archive_buffered(BufReader::with_capacity(256 * 1024, r), limit)
}

/// [`decompress_archive`] over a reader that is already buffered: a plain tar is read straight from
/// `br`'s buffers (a request body's frames), with no copy through another buffer. `br.fill_buf()`
/// must hold the stream's first 10 bytes (or all of a shorter stream) for the magic to be told.
pub fn decompress_archive_buffered<'a, R: BufRead + Send + 'a>(
    mut br: R,
    limit: u64,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    let head = br.fill_buf()?;
    if is_bzip2(head) {
        return Ok(Box::new(Bounded::new(
            bzip2::bufread::MultiBzDecoder::new(br),
            limit,
        )));
    }
    if head.starts_with(&XZ_MAGIC) {
        return Ok(Box::new(Bounded::new(
            lzma_rust2::XzReader::new_mem_limit(br, true, XZ_MEM_LIMIT_KB),
            limit,
        )));
    }
    bounded_buffered(br, limit)
}

/// The default bound on what one decompressed stream (a loaded archive, a layer) may hold: 64 GiB.
pub const DEFAULT_MAX_UNCOMPRESSED: u64 = 64 << 30;

/// A decompressed stream went past its bound (a decompression bomb, or a limit set too low).
#[derive(Debug, thiserror::Error)]
#[error("decompressed data exceeds the limit of {limit} bytes (berthd --max-uncompressed-size)")]
pub struct TooLarge {
    /// The bound.
    pub limit: u64,
}

/// Whether an I/O error is a [`TooLarge`].
pub fn is_too_large(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<TooLarge>())
}

/// A reader that fails with [`TooLarge`] once more than `limit` bytes come through.
pub struct Bounded<R> {
    inner: R,
    limit: u64,
    left: u64,
}

impl<R: Read> Bounded<R> {
    /// Bound `inner` to `limit` bytes.
    pub fn new(inner: R, limit: u64) -> Self {
        Bounded {
            inner,
            limit,
            left: limit,
        }
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            // At the bound: only the end of the stream is acceptable.
            let mut one = [0u8; 1];
            return match self.inner.read(&mut one)? {
                0 => Ok(0),
                _ => Err(io::Error::other(TooLarge { limit: self.limit })),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// A writer that compresses into `w`.
pub enum Compressor<W: Write> {
    /// Pass-through.
    None(W),
    /// gzip.
    Gzip(flate2::write::GzEncoder<W>),
    /// zstd.
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Compressor<W> {
    /// Start compressing into `w`.
    pub fn new(w: W, c: Compression) -> io::Result<Self> {
        Ok(match c {
            Compression::None => Compressor::None(w),
            Compression::Gzip => Compressor::Gzip(flate2::write::GzEncoder::new(
                w,
                flate2::Compression::fast(),
            )),
            Compression::Zstd => Compressor::Zstd(zstd::stream::write::Encoder::new(w, 3)?),
        })
    }

    /// Finish the stream and return the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Compressor::None(w) => Ok(w),
            Compressor::Gzip(e) => e.finish(),
            Compressor::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::None(w) => w.write(buf),
            Compressor::Gzip(e) => e.write(buf),
            Compressor::Zstd(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::None(w) => w.flush(),
            Compressor::Gzip(e) => e.flush(),
            Compressor::Zstd(e) => e.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_in_every_compression_docker_takes() {
        let tar = b"a tar, or anything".repeat(1000);
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&tar).unwrap();
        let bz = bz.finish().unwrap();
        let mut xz =
            lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::default()).unwrap();
        xz.write_all(&tar).unwrap();
        let xz = xz.finish().unwrap();
        let mut gz = Compressor::new(Vec::new(), Compression::Gzip).unwrap();
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let mut zs = Compressor::new(Vec::new(), Compression::Zstd).unwrap();
        zs.write_all(&tar).unwrap();
        let zs = zs.finish().unwrap();
        for (name, c) in [
            ("plain", &tar),
            ("bzip2", &bz),
            ("xz", &xz),
            ("gzip", &gz),
            ("zstd", &zs),
        ] {
            let mut out = Vec::new();
            decompress_archive(&c[..], u64::MAX)
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert!(out == tar, "{name}");
        }
        // A bounded bzip2 or xz stream stops at its bound.
        for c in [&bz, &xz] {
            let e = decompress_archive(&c[..], 100)
                .unwrap()
                .read_to_end(&mut Vec::new())
                .unwrap_err();
            assert!(is_too_large(&e), "{e}");
        }
        // A plain tar whose first name starts with BZh stays plain.
        let mut fake = b"BZh9-notes.txt".to_vec();
        fake.resize(600, 0);
        let mut out = Vec::new();
        decompress_archive(&fake[..], u64::MAX)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, fake);
    }

    #[test]
    fn bounded_reads_up_to_the_limit_and_no_further() {
        let mut v = Vec::new();
        Bounded::new(&[7u8; 100][..], 100)
            .read_to_end(&mut v)
            .unwrap();
        assert_eq!(v.len(), 100);
        let e = Bounded::new(&[7u8; 101][..], 100)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(is_too_large(&e), "{e}");
    }

    #[test]
    fn round_trip_all() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let mut w = Compressor::new(Vec::new(), c).unwrap();
            w.write_all(&data).unwrap();
            let out = w.finish().unwrap();
            let (dc, mut r) = decompress(&out[..]).unwrap();
            assert_eq!(dc, c);
            let mut back = Vec::new();
            r.read_to_end(&mut back).unwrap();
            assert_eq!(back, data);
        }
    }
}

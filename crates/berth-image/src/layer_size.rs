//! The size of a layer as Docker reports it (`docker images`, `image inspect`'s `Size`, `history`,
//! `system df`): what the layer holds once unpacked, measured from its tar.
//!
//! dockerd unpacks every layer and walks its directory: the sizes of everything that is not a
//! directory (a symbolic link's is the length of its target), each inode once. The same number
//! comes from the tar's headers: regular files' sizes and symbolic links' targets; hard links,
//! directories, devices and whiteouts add nothing; an entry given twice counts as its last.
//! [`crate::store::Store`] keeps the number per layer blob.

use std::collections::HashMap;
use std::io::{self, Read, Write};

/// Read a plain (decompressed) layer tar to its end, passing every byte on to `w`, and measure
/// it. When the stream is no tar (a layer of something else) the answer is its length instead.
/// Errors are those of reading `r` or writing `w` only.
pub fn measure_through<R: Read, W: Write>(r: R, w: W) -> io::Result<u64> {
    let mut tee = Tee {
        r,
        w,
        len: 0,
        failed: false,
    };
    let measured = content_size(&mut tee);
    if tee.failed {
        return Err(measured
            .err()
            .unwrap_or_else(|| io::Error::other("layer stream")));
    }
    // The end-of-archive blocks (and whatever follows them) go on too.
    io::copy(&mut tee, &mut io::sink())?;
    Ok(measured.unwrap_or(tee.len))
}

/// [`measure_through`] with nowhere to pass the bytes on.
pub fn measure<R: Read>(r: R) -> io::Result<u64> {
    measure_through(r, io::sink())
}

/// The sum described in the module's docs; an error if the stream is no tar.
fn content_size<R: Read>(r: R) -> io::Result<u64> {
    let mut sizes: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut a = tar::Archive::new(r);
    for e in a.entries()? {
        let e = e?;
        let n = match e.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => e.size(),
            tar::EntryType::Symlink => e.link_name_bytes().map_or(0, |l| l.len() as u64),
            _ => 0,
        };
        let path = e.path_bytes();
        let mut p: &[u8] = &path;
        while let Some(rest) = p.strip_prefix(b"./").or_else(|| p.strip_prefix(b"/")) {
            p = rest;
        }
        let p = p.strip_suffix(b"/").unwrap_or(p);
        sizes.insert(p.to_vec(), n);
    }
    Ok(sizes.values().sum())
}

/// A reader that copies what it reads to `w`, counting it, and remembers whether reading or
/// writing failed (as opposed to the tar parser finding no tar).
struct Tee<R, W> {
    r: R,
    w: W,
    len: u64,
    failed: bool,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.r.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                self.failed = true;
                return Err(e);
            }
        };
        if let Err(e) = self.w.write_all(&buf[..n]) {
            self.failed = true;
            return Err(e);
        }
        self.len += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(b: &mut tar::Builder<Vec<u8>>, path: &str, kind: tar::EntryType, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, data).unwrap();
    }

    fn link(b: &mut tar::Builder<Vec<u8>>, path: &str, kind: tar::EntryType, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(0);
        b.append_link(&mut h, path, target).unwrap();
    }

    #[test]
    fn counts_files_and_link_targets_as_an_unpacked_directory_would() {
        let mut b = tar::Builder::new(Vec::new());
        entry(&mut b, "./bin/", tar::EntryType::Directory, b"");
        entry(&mut b, "./bin/busybox", tar::EntryType::Regular, &[7; 1000]);
        link(&mut b, "./bin/sh", tar::EntryType::Symlink, "busybox");
        link(&mut b, "./bin/hard", tar::EntryType::Link, "bin/busybox");
        // A long target goes in a GNU long-link entry of its own: still its length.
        let long = "t".repeat(300);
        link(&mut b, "lnk", tar::EntryType::Symlink, &long);
        entry(
            &mut b,
            "etc/passwd",
            tar::EntryType::Regular,
            b"root:x:0:0\n",
        );
        // Given again: the last one stands.
        entry(&mut b, "./etc/passwd", tar::EntryType::Regular, b"r\n");
        entry(&mut b, "etc/.wh.gone", tar::EntryType::Regular, b"");
        let tar = b.into_inner().unwrap();
        let mut copy = Vec::new();
        assert_eq!(
            measure_through(&tar[..], &mut copy).unwrap(),
            1000 + 7 + 300 + 2
        );
        assert_eq!(copy, tar, "every byte passed on");
    }

    #[test]
    fn what_is_no_tar_counts_its_length() {
        let junk = vec![b'x'; 700];
        let mut copy = Vec::new();
        assert_eq!(measure_through(&junk[..], &mut copy).unwrap(), 700);
        assert_eq!(copy, junk);
        assert_eq!(measure(&b""[..]).unwrap(), 0);
    }

    #[test]
    fn read_and_write_errors_are_errors() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk"))
            }
        }
        assert!(measure(Broken).is_err());
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let tar = tar::Builder::new(Vec::new()).into_inner().unwrap();
        assert!(measure_through(&tar[..], Full).is_err());
    }
}

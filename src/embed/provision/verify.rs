//! sha256 checks of model files.

use super::ProvisionError;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

/// The lowercase hex sha256 of a file's content.
pub fn sha256_file(path: &Path) -> Result<String, ProvisionError> {
    let mut file = File::open(path).map_err(|e| ProvisionError::io("cannot open", path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file
            .read(&mut buffer)
            .map_err(|e| ProvisionError::io("cannot read", path, e))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Checks that each listed file under `dir` exists and has its sha256.
/// The first problem is returned, naming the file.
pub fn verify_files(dir: &Path, files: &BTreeMap<String, String>) -> Result<(), ProvisionError> {
    for (relative, expected) in files {
        let path = dir.join(relative);
        if !path.is_file() {
            return Err(ProvisionError::MissingFile {
                file: relative.clone(),
                location: dir.display().to_string(),
            });
        }
        check(relative, expected, &sha256_file(&path)?)?;
    }
    Ok(())
}

/// `Ok` when `actual` is `expected`, else a mismatch naming `file`.
pub fn check(file: &str, expected: &str, actual: &str) -> Result<(), ProvisionError> {
    if expected.eq_ignore_ascii_case(actual) {
        Ok(())
    } else {
        Err(ProvisionError::ChecksumMismatch {
            file: file.to_string(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

/// Copies `reader` into `writer` while hashing; returns the hex sha256 and
/// the number of bytes copied.
pub fn copy_hashing(reader: &mut impl Read, writer: &mut impl Write) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buffer[..read]);
        writer.write_all(&buffer[..read])?;
        total += read as u64;
    }
    writer.flush()?;
    Ok((hex::encode(hasher.finalize()), total))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn known_digest_and_mismatch_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), b"abc").unwrap();
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(sha256_file(&dir.path().join("a.txt")).unwrap(), abc);
        let mut files = BTreeMap::new();
        files.insert("a.txt".to_string(), abc.to_string());
        verify_files(dir.path(), &files).unwrap();
        files.insert("a.txt".to_string(), "0".repeat(64));
        let error = verify_files(dir.path(), &files).unwrap_err().to_string();
        assert!(error.contains("a.txt") && error.contains(abc), "{error}");
        files.insert("b.txt".to_string(), abc.to_string());
        files.remove("a.txt");
        let error = verify_files(dir.path(), &files).unwrap_err().to_string();
        assert!(error.contains("b.txt is missing"), "{error}");
    }

    #[test]
    fn copy_hashing_hashes_what_it_copies() {
        let mut out = Vec::new();
        let (digest, n) = copy_hashing(&mut &b"abc"[..], &mut out).unwrap();
        assert_eq!(n, 3);
        assert_eq!(out, b"abc");
        assert!(digest.starts_with("ba7816bf"));
    }
}

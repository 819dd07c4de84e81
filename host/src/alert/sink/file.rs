//! The file sink's writer: JSON lines appended to a file that rotates by size.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// JSON lines appended to a file that rotates by size: `path` → `path.1` → … → `path.keep`.
pub(super) struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    file: BufWriter<File>,
    size: u64,
}

impl RotatingFile {
    pub(super) fn open(
        path: PathBuf,
        max_bytes: u64,
        keep: usize,
    ) -> std::io::Result<RotatingFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = append(&path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path,
            max_bytes: max_bytes.max(1),
            keep,
            file: BufWriter::new(file),
            size,
        })
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        let numbered = |i: usize| rotated(&self.path, i);
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            // the oldest falls off; each other moves up one
            let _ = std::fs::remove_file(numbered(self.keep));
            for i in (1..self.keep).rev() {
                let from = numbered(i);
                if from.exists() {
                    std::fs::rename(&from, numbered(i + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(1))?;
        }
        self.file = BufWriter::new(append(&self.path)?);
        self.size = 0;
        Ok(())
    }
}

fn append(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// `path.i`.
fn rotated(path: &Path, i: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{i}"));
    PathBuf::from(name)
}

impl Write for RotatingFile {
    /// Whole lines only (the sink writes one line per call and flush): a line never spans
    /// two files.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len() as u64;
        if self.size > 0 && self.size + n > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(buf)?;
        self.size += n;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_rotates_by_size_and_keeps_n_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("alerts.jsonl");
        let mut file = RotatingFile::open(path.clone(), 100, 2).expect("opens");
        for i in 0..10 {
            // 50 bytes with its newline: two per file
            file.write_all(format!("{i:049}\n").as_bytes())
                .expect("writes");
        }
        file.flush().expect("flushes");
        let read = |p: &Path| std::fs::read_to_string(p).expect("reads");
        assert_eq!(read(&path), format!("{:049}\n{:049}\n", 8, 9));
        assert_eq!(read(&rotated(&path, 1)), format!("{:049}\n{:049}\n", 6, 7));
        assert_eq!(read(&rotated(&path, 2)), format!("{:049}\n{:049}\n", 4, 5));
        assert!(
            !rotated(&path, 3).exists(),
            "only `keep` rotated files stay"
        );
    }
}

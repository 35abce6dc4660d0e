//! The documentation screenshots (`docs/screenshots/`): where the browser tests put them, how
//! they are checked, and the digest of the page sources they show (`docs/screenshots/SOURCES`),
//! which tells when they must be taken again.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::repo_root;

/// What the pages look like is made of: the Worker's templates, assets and the Rust that fills
/// them in (labels, choices), and the CLI's own page on its loopback listener.
const PAGE_SOURCES: &[&str] = &["templates", "assets", "src/pages", "cli/src/loopback.rs"];

/// Where the screenshots go: `docs/screenshots/` with `EDGEAUTH_UPDATE_SCREENSHOTS=1`, else
/// a scratch directory removed afterwards.
pub enum Screenshots {
    Docs(PathBuf),
    Scratch(tempfile::TempDir),
}

impl Screenshots {
    pub fn choose() -> Screenshots {
        if std::env::var("EDGEAUTH_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
            Screenshots::Docs(repo_root().join("docs/screenshots"))
        } else {
            Screenshots::Scratch(tempfile::tempdir().expect("a scratch directory"))
        }
    }

    pub fn dir(&self) -> &Path {
        match self {
            Screenshots::Docs(path) => path,
            Screenshots::Scratch(dir) => dir.path(),
        }
    }

    /// Checks `<name>-desktop.png` (1280×800) and `<name>-phone.png` (375 wide, the whole
    /// page, at least one screen high).
    pub fn assert_taken(&self, name: &str) {
        assert_eq!(
            png_size(&self.dir().join(format!("{name}-desktop.png"))),
            (1280, 800),
            "{name}"
        );
        let (width, height) = png_size(&self.dir().join(format!("{name}-phone.png")));
        assert!(width == 375 && height >= 812, "{name}: {width}x{height}");
    }
}

/// The file that records which page sources the committed screenshots show.
pub fn sources_stamp() -> PathBuf {
    repo_root().join("docs/screenshots/SOURCES")
}

/// The SHA-256 (hex) of what the pages look like: every file of [`PAGE_SOURCES`], by path
/// and content, in path order.
pub fn page_sources_digest() -> String {
    let root = repo_root();
    let mut files: Vec<PathBuf> = PAGE_SOURCES
        .iter()
        .flat_map(|source| {
            let path = root.join(source);
            if path.is_dir() {
                std::fs::read_dir(&path)
                    .unwrap_or_else(|e| panic!("{source}: {e}"))
                    .map(|entry| entry.expect("a directory entry").path())
                    .filter(|path| path.is_file())
                    .collect()
            } else {
                vec![path]
            }
        })
        .collect();
    files.sort();
    let mut hash = Sha256::new();
    for file in files {
        let name = file.strip_prefix(&root).expect("under the repository");
        hash.update(name.to_string_lossy().as_bytes());
        hash.update([0]);
        hash.update(std::fs::read(&file).expect("read a page source"));
        hash.update([0]);
    }
    hex::encode(hash.finalize())
}

/// The width and height of a PNG file.
pub fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path)
        .unwrap_or_else(|e| panic!("screenshot {} is missing: {e}", path.display()));
    assert!(
        bytes.len() > 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR",
        "{} is not a PNG",
        path.display()
    );
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    (word(16), word(20))
}

//! Configuration as code: the YAML documents (OpenSLO v1 and `steward/v1`), checked with
//! `file:line:col` errors and turned into the model's types.
//!
//! Two stages, as in ripgrep: [`docs`] reads each document on its own (no I/O beyond the file
//! text, no cross-references); [`catalog`] checks documents against each other and builds the
//! model objects.

pub mod adjustment;
pub mod backstage;
pub mod catalog;
pub mod diag;
pub mod docs;
pub mod oncall;
pub mod policy;
pub mod read;
pub mod readiness;
pub mod runbook;
pub mod yaml;

pub use catalog::{Catalog, Scope};
pub use diag::{Diagnostic, Diagnostics, Level, Loc};

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A loaded configuration and the warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    pub catalog: Catalog,
    pub warnings: Vec<Diagnostic>,
    pub files: usize,
    pub documents: usize,
    /// A hash of every file read, with its path (FNV-1a, 64 bits, in hex): which
    /// configuration runs, for `/readyz` and `/metrics`.
    pub hash: String,
    /// Where each document's name was written, by kind (`steward/v1 Service`, `Policy`, ...)
    /// and name: what a finding about the object points at.
    pub places: std::collections::HashMap<(&'static str, String), Loc>,
}

/// Loads a configuration directory (every `*.yaml`/`*.yml` below it) or a single file.
/// A directory is a complete configuration; a single file is checked on its own.
pub fn load(path: &Path) -> Result<Loaded, Vec<Diagnostic>> {
    load_with(path, &[])
}

/// Loads `path` together with the documents of `more` (directories or files: Policy
/// documents kept apart from the configuration they judge), as one configuration.
pub fn load_with(path: &Path, more: &[PathBuf]) -> Result<Loaded, Vec<Diagnostic>> {
    let mut diags = Diagnostics::default();
    let scope = if path.is_dir() {
        Scope::Complete
    } else {
        Scope::SingleFile
    };
    let mut files = Vec::new();
    for root in std::iter::once(path).chain(more.iter().map(PathBuf::as_path)) {
        if root.is_dir() {
            let mut found = Vec::new();
            if let Err(e) = collect_files(root, &mut found) {
                diags.error(file_loc(root), format!("cannot read directory: {e}"));
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(root.to_path_buf());
        }
    }
    // A file named twice (a policy file inside the directory it judges) is read once.
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    let mut docs = Vec::new();
    let mut hash = Fnv::default();
    for file in &files {
        let len = std::fs::metadata(file).map_or(0, |m| m.len());
        if len > yaml::MAX_FILE_BYTES as u64 {
            diags.error(
                file_loc(file),
                format!(
                    "the file is {len} bytes, more than the {} Steward reads; split it into several files",
                    yaml::MAX_FILE_BYTES
                ),
            );
            continue;
        }
        match std::fs::read_to_string(file) {
            Ok(text) => {
                hash.write(file.display().to_string().as_bytes());
                hash.write(&[0]);
                hash.write(text.as_bytes());
                hash.write(&[0]);
                docs.extend(parse_text(&file.display().to_string(), &text, &mut diags))
            }
            Err(e) => diags.error(file_loc(file), format!("cannot read file: {e}")),
        }
    }
    let documents = docs.len();
    let places = docs
        .iter()
        .map(|d| {
            let m = d.metadata();
            ((d.kind(), m.name.name.clone()), m.name.loc.clone())
        })
        .collect();
    let catalog = catalog::build(&docs, scope, &mut diags);
    if diags.has_errors() {
        return Err(diags.items);
    }
    Ok(Loaded {
        catalog,
        warnings: diags.items,
        files: files.len(),
        documents,
        hash: format!("{:016x}", hash.0),
        places,
    })
}

/// FNV-1a, 64 bits: a fingerprint of the configuration, not a defence against anyone.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Reads the documents of one file's text. A file may hold several documents (`---`) or a
/// top-level list of documents.
pub fn parse_text(file: &str, text: &str, diags: &mut Diagnostics) -> Vec<docs::Document> {
    let file: Arc<str> = Arc::from(file);
    let mut r = read::Reader {
        file: file.clone(),
        diags,
    };
    let nodes = match yaml::parse_documents(text) {
        Ok(nodes) => nodes,
        Err((mark, message)) => {
            r.error(mark, format!("YAML syntax error: {message}"));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for node in &nodes {
        match &node.value {
            yaml::Value::Null => {}
            yaml::Value::Seq(items) => {
                out.extend(items.iter().filter_map(|n| docs::read_document(&mut r, n)))
            }
            _ => out.extend(docs::read_document(&mut r, node)),
        }
    }
    out
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

fn file_loc(path: &Path) -> Loc {
    Loc {
        file: Arc::from(path.display().to_string()),
        mark: yaml::Mark { line: 1, col: 1 },
    }
}

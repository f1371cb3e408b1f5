//! `InputPaths`: the files a file source reads. Each path names a file, or a directory meaning
//! every regular file directly inside it (not recursively), sorted by file name so that a run
//! reads its input in the same order every time. Paths are resolved when the job runs, so a
//! missing input fails the job with a clear error instead of a panic at build time.

use crate::JobError;
use std::path::{Path, PathBuf};

/// The paths a file source reads: files, or directories of files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputPaths {
    paths: Vec<PathBuf>,
}

impl InputPaths {
    /// The paths as given (directories not yet expanded).
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Expands directories and checks that every path exists.
    ///
    /// A directory yields its regular files (non-recursive) sorted by file name; files are
    /// kept in the order given. A path that cannot be read is
    /// `JobError::io("cannot open input", path, _)`.
    pub fn resolve(&self) -> Result<Vec<PathBuf>, JobError> {
        let mut files = Vec::new();
        for path in &self.paths {
            let err = |e| JobError::io("cannot open input", path.display(), e);
            let meta = std::fs::metadata(path).map_err(err)?;
            if !meta.is_dir() {
                files.push(path.clone());
                continue;
            }
            let mut inside = Vec::new();
            for entry in std::fs::read_dir(path).map_err(err)? {
                let entry = entry.map_err(err)?;
                let file = entry.path();
                // `metadata` follows symbolic links, so a link to a file counts as a file.
                if std::fs::metadata(&file).map(|m| m.is_file()).unwrap_or(false) {
                    inside.push((entry.file_name(), file));
                }
            }
            inside.sort();
            files.extend(inside.into_iter().map(|(_, file)| file));
        }
        Ok(files)
    }
}

impl From<PathBuf> for InputPaths {
    fn from(path: PathBuf) -> Self {
        InputPaths { paths: vec![path] }
    }
}

impl From<&Path> for InputPaths {
    fn from(path: &Path) -> Self {
        InputPaths {
            paths: vec![path.to_path_buf()],
        }
    }
}

impl From<&str> for InputPaths {
    fn from(path: &str) -> Self {
        InputPaths {
            paths: vec![PathBuf::from(path)],
        }
    }
}

impl From<String> for InputPaths {
    fn from(path: String) -> Self {
        InputPaths {
            paths: vec![PathBuf::from(path)],
        }
    }
}

impl From<&String> for InputPaths {
    fn from(path: &String) -> Self {
        InputPaths {
            paths: vec![PathBuf::from(path)],
        }
    }
}

impl<const N: usize> From<[&str; N]> for InputPaths {
    fn from(paths: [&str; N]) -> Self {
        InputPaths {
            paths: paths.iter().map(PathBuf::from).collect(),
        }
    }
}

impl From<&[&str]> for InputPaths {
    fn from(paths: &[&str]) -> Self {
        InputPaths {
            paths: paths.iter().map(PathBuf::from).collect(),
        }
    }
}

impl From<Vec<&str>> for InputPaths {
    fn from(paths: Vec<&str>) -> Self {
        InputPaths {
            paths: paths.into_iter().map(PathBuf::from).collect(),
        }
    }
}

impl From<Vec<String>> for InputPaths {
    fn from(paths: Vec<String>) -> Self {
        InputPaths {
            paths: paths.into_iter().map(PathBuf::from).collect(),
        }
    }
}

impl From<Vec<PathBuf>> for InputPaths {
    fn from(paths: Vec<PathBuf>) -> Self {
        InputPaths { paths }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        let one = InputPaths::from("a.csv");
        assert_eq!(one.paths(), [PathBuf::from("a.csv")]);
        let s = String::from("b");
        assert_eq!(InputPaths::from(&s), InputPaths::from(s.clone()));
        assert_eq!(InputPaths::from(["a", "b"]).paths().len(), 2);
        assert_eq!(InputPaths::from(vec!["a", "b", "c"]).paths().len(), 3);
        let slice: &[&str] = &["x"];
        assert_eq!(InputPaths::from(slice), InputPaths::from(Path::new("x")));
        assert_eq!(
            InputPaths::from(vec![PathBuf::from("x")]),
            InputPaths::from(vec![String::from("x")])
        );
    }

    #[test]
    fn directory_is_sorted_and_flat() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.csv", "a.csv", "c.csv"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub").join("z.csv"), "").unwrap();
        let files = InputPaths::from(dir.path()).resolve().unwrap();
        let names: Vec<_> = files.iter().map(|f| f.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(names, ["a.csv", "b.csv", "c.csv"]);
    }

    #[test]
    fn missing_path_is_an_error() {
        let err = InputPaths::from("/definitely/not/here.csv").resolve().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot open input `/definitely/not/here.csv`"),
            "{err}"
        );
    }
}

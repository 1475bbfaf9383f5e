//! Files that hold secrets — the vault, its WAL and shared-memory files, the key file, the
//! outbox's `.eml` files with live links — are created readable by their owner only (0600) in
//! directories only the owner can enter (0700) when the engine creates them. Existing files
//! that are more open are tightened when opened, with a warning: other local users must not
//! get an offline guessing target or live reset links.

use std::io::Write as _;
use std::path::Path;

/// Create `dir` (and missing parents) owner-only; an existing directory that others can
/// enter is tightened with a warning.
pub(crate) fn private_dir(dir: &Path) -> std::io::Result<()> {
    if !dir.exists() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            b.mode(0o700);
        }
        return b.create(dir);
    }
    tighten(dir, 0o700)
}

/// Create the parent directory of a new secret file owner-only if it does not exist yet.
/// An existing parent (a home directory, a project folder) is left as it is: the files in it
/// are private on their own.
pub(crate) fn private_parent(file: &Path) -> std::io::Result<()> {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() && !p.exists() => private_dir(p),
        _ => Ok(()),
    }
}

/// Write a new file owner-only, all at once, and flush it to disk.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = open_private(path, true)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Write a file owner-only, replacing one already there (written beside it, then renamed
/// over it, so a reader never sees half a file): an export saved where staff chose.
pub fn write_private_replacing(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".partial-{}", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    write_private(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Open (creating if asked, never truncating) a file owner-only.
pub(crate) fn open_private(path: &Path, create_new: bool) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true);
    if create_new {
        o.create_new(true);
    } else {
        o.create(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(0o600);
    }
    o.open(path)
}

/// If `path` exists and grants anything beyond `mode` (0600 files, 0700 directories), take
/// it away and log a warning naming the file (paths are the operator's, not personal data).
pub(crate) fn tighten(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let current = meta.permissions().mode() & 0o777;
        if current & !mode != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{current:o}"),
                "file readable by other local users; restricting it to its owner"
            );
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(current & mode))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// The vault file and the files SQLite and the engine keep beside it.
pub(crate) fn tighten_vault(vault: &Path) -> std::io::Result<()> {
    let name = vault.as_os_str().to_owned();
    for suffix in ["", "-wal", "-shm", ".keys"] {
        let mut p = name.clone();
        p.push(suffix);
        tighten(Path::new(&p), 0o600)?;
    }
    Ok(())
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_files_and_directories_are_owner_only() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("a/b");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let f = dir.join("x.eml");
        write_private(&f, b"secret").unwrap();
        assert_eq!(mode(&f), 0o600);
    }

    #[test]
    fn open_files_are_tightened() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("v.vault");
        std::fs::write(&f, b"x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        tighten_vault(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
    }
}

//! The files of a bench the tool reaches directly (the local executor). The bench's owner
//! controls everything below the bench directory, and the tool may run as root, so a path
//! is never handed to the kernel whole: it is resolved one component at a time from the
//! opened bench directory, never through `..`, and a symbolic link is followed only where
//! that gives the tool nothing its own account could not do anyway:
//!
//! - as root, no link below the bench directory is ever followed, reading or writing;
//! - as any other account, writes follow none below `sites/` (a linked `sites/` itself is
//!   the operator's choice), and reads follow links as that account would.
//!
//! Files the tool creates are new (`O_EXCL`, random temporary names), written through
//! their own descriptor, given the owner of `sites/` through that descriptor (`fchown`),
//! then renamed into place; nothing existing is ever truncated or chowned by path.

use std::ffi::{CStr, CString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// How every folder below the bench is opened: for resolving names in it and reading its
/// entries, never through a link in its place (`ELOOP`), failing at once on anything but a
/// folder (a FIFO would block a plain open), never inherited by a child started meanwhile.
/// Following a link takes removing `NOFOLLOW` on purpose (`open_dir`).
const FOLDER: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// A bench directory on this machine.
#[derive(Debug, Clone)]
pub struct Tree {
    path: PathBuf,
    /// The tool runs as root: no link below the bench is followed at all.
    root: bool,
}

impl Tree {
    pub fn new(path: &Path) -> Self {
        // SAFETY: geteuid has no preconditions and cannot fail.
        Self::as_account(path, unsafe { libc::geteuid() } == 0)
    }

    /// The bench as the tool sees it when it runs as root (`root`) or not, whoever runs it.
    fn as_account(path: &Path, root: bool) -> Self {
        Self {
            path: path.to_path_buf(),
            root,
        }
    }

    /// Whether a read follows links below the bench (as the tool's own account would).
    fn reads_follow(&self) -> bool {
        !self.root
    }

    /// Whether a write follows a link at the component at `depth` (0: `sites`, `apps`).
    fn writes_follow(&self, depth: usize) -> bool {
        !self.root && depth == 0
    }

    /// The bench directory itself: the operator's path, opened as given.
    fn bench(&self) -> std::io::Result<OwnedFd> {
        Ok(rfs::open(
            &self.path,
            FOLDER.difference(OFlags::NOFOLLOW),
            Mode::empty(),
        )?)
    }

    /// The opened directory that holds `rel`'s last component, and that component.
    fn parent(&self, rel: &str, write: bool) -> std::io::Result<(OwnedFd, CString)> {
        let parts = components(rel)?;
        let (last, dirs) = parts.split_last().expect("components are never empty");
        let mut dir = self.bench()?;
        for (depth, name) in dirs.iter().enumerate() {
            let follow = if write {
                self.writes_follow(depth)
            } else {
                self.reads_follow()
            };
            dir = self.open_dir(dir.as_fd(), name, follow, rel)?;
        }
        Ok((dir, last.clone()))
    }

    fn open_dir(
        &self,
        at: BorrowedFd<'_>,
        name: &CStr,
        follow: bool,
        rel: &str,
    ) -> std::io::Result<OwnedFd> {
        let flags = if follow {
            FOLDER.difference(OFlags::NOFOLLOW)
        } else {
            FOLDER
        };
        rfs::openat(at, name, flags, Mode::empty()).map_err(|e| explain(at, name, e, rel))
    }

    /// The whole file, or `None` when it does not exist (`open`'s rule for links).
    pub fn read(&self, rel: &str) -> std::io::Result<Option<String>> {
        let Some(mut file) = self.open(rel)? else {
            return Ok(None);
        };
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        Ok(Some(text))
    }

    /// The file at `rel` opened for reading, following no link the tool may not follow
    /// (`reads_follow`); `None` when it does not exist.
    pub fn open(&self, rel: &str) -> std::io::Result<Option<std::fs::File>> {
        let (dir, name) = match self.parent(rel, false) {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        match open_file(dir.as_fd(), &name, self.reads_follow(), rel) {
            Ok(fd) => Ok(Some(std::fs::File::from(fd))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether anything (a link included) is at `rel`.
    pub fn exists(&self, rel: &str) -> std::io::Result<bool> {
        let (dir, name) = match self.parent(rel, false) {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        match rfs::statat(dir.as_fd(), &name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The names in the folder `rel` whose entry is a real directory (links excluded), or
    /// a regular file with `files`. None when the folder does not exist.
    pub fn list(&self, rel: &str, files: bool) -> std::io::Result<Vec<String>> {
        let Some(dir) = self.folder(rel)? else {
            return Ok(vec![]);
        };
        let want = if files {
            FileType::RegularFile
        } else {
            FileType::Directory
        };
        let mut out = vec![];
        for (name, kind) in entries(dir.as_fd())? {
            let kind = match kind {
                FileType::Unknown => kind_at(dir.as_fd(), &name)?,
                k => k,
            };
            if kind == want {
                out.push(name.to_string_lossy().into_owned());
            }
        }
        out.sort();
        Ok(out)
    }

    /// The bytes of the regular files under the folder `rel` (0 when it is absent),
    /// following no link at all: a link counts for nothing, whatever it points to.
    pub fn size(&self, rel: &str) -> std::io::Result<u64> {
        match self.folder(rel)? {
            Some(dir) => tree_size(dir.as_fd()),
            None => Ok(0),
        }
    }

    /// The folder `rel` opened for reading (`reads_follow`'s rule for links), `None` when
    /// it or a folder on the way does not exist.
    fn folder(&self, rel: &str) -> std::io::Result<Option<OwnedFd>> {
        let (dir, name) = match self.parent(rel, false) {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        match self.open_dir(dir.as_fd(), &name, self.reads_follow(), rel) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes the folder `rel` and everything in it; absent is fine. A link at `rel` is
    /// refused; links inside it are removed themselves, never what they point to.
    pub fn remove_tree(&self, rel: &str) -> std::io::Result<()> {
        let (dir, name) = match self.parent(rel, true) {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        match rfs::statat(dir.as_fd(), &name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(e.into()),
            Ok(st) if FileType::from_raw_mode(st.st_mode).is_symlink() => {
                return Err(is_a_link(rel));
            }
            Ok(_) => {}
        }
        remove_entry(dir.as_fd(), &name)
    }

    /// Renames `from` to `to` in one step, never replacing anything at `to`. Both are
    /// in one folder; a link at `from` is refused (it would hand out what it points to).
    pub fn rename_noreplace(&self, from: &str, to: &str) -> std::io::Result<()> {
        let (dir, src) = self.parent(from, true)?;
        let (to_dir, dst) = self.parent(to, true)?;
        let st = rfs::statat(dir.as_fd(), &src, AtFlags::SYMLINK_NOFOLLOW)?;
        if FileType::from_raw_mode(st.st_mode).is_symlink() {
            return Err(is_a_link(from));
        }
        Ok(rfs::renameat_with(
            dir.as_fd(),
            &src,
            to_dir.as_fd(),
            &dst,
            rfs::RenameFlags::NOREPLACE,
        )?)
    }

    /// Writes a new file at `rel`, readable by its owner only, from `content`: created
    /// under a random temporary name with `O_EXCL`, given the owner of `sites/` through its
    /// descriptor, then renamed into place (replacing what is there only with `replace`;
    /// without, an existing file wins and this is not an error). Missing folders on the
    /// way are created and given the owner of `sites/` too.
    pub fn write_new(
        &self,
        rel: &str,
        content: &mut dyn Read,
        replace: bool,
    ) -> std::io::Result<()> {
        self.write_new_via(rel, content, replace, rand::random())
    }

    /// `write_new` through the temporary name that `nonce` makes (random but for tests).
    fn write_new_via(
        &self,
        rel: &str,
        content: &mut dyn Read,
        replace: bool,
        nonce: u64,
    ) -> std::io::Result<()> {
        let parts = components(rel)?;
        let (last, dirs) = parts.split_last().expect("components are never empty");
        let mut dir = self.bench()?;
        let mut owner = None;
        for (depth, name) in dirs.iter().enumerate() {
            let follow = self.writes_follow(depth);
            dir = match self.open_dir(dir.as_fd(), name, follow, rel) {
                Ok(d) => d,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && depth > 0 => {
                    match rfs::mkdirat(dir.as_fd(), name.as_c_str(), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    self.open_dir(dir.as_fd(), name, false, rel)?
                }
                Err(e) => return Err(e),
            };
            if depth == 0 {
                owner = Some(rfs::fstat(&dir)?);
            } else {
                self.give_to(&dir, owner.as_ref())?;
            }
        }
        let tmp = CString::new(format!(".{}.tmp-{nonce:016x}", last.to_string_lossy(),))
            .expect("no NUL in a name we made");
        let fd = rfs::openat(
            dir.as_fd(),
            &tmp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        let written = (|| -> std::io::Result<()> {
            let mut file = std::fs::File::from(fd);
            std::io::copy(content, &mut file)?;
            file.flush()?;
            rfs::fsync(&file)?;
            self.give_to(&file, owner.as_ref())?;
            let flags = if replace {
                rfs::RenameFlags::empty()
            } else {
                rfs::RenameFlags::NOREPLACE
            };
            match rfs::renameat_with(dir.as_fd(), &tmp, dir.as_fd(), last, flags) {
                Ok(()) => Ok(()),
                Err(Errno::EXIST) if !replace => Ok(()),
                Err(e) => Err(e.into()),
            }
        })();
        let _ = rfs::unlinkat(dir.as_fd(), &tmp, AtFlags::empty());
        written
    }

    /// Removes the file (or link) `rel`; absent is fine.
    pub fn remove_file(&self, rel: &str) -> std::io::Result<()> {
        let (dir, name) = match self.parent(rel, true) {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        match rfs::unlinkat(dir.as_fd(), &name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Decompresses the gzip file `gz` into a new file `out` (see `write_new`) and removes
    /// `gz`. A link at `gz` is refused: it could point at any file root can read.
    pub fn gunzip(&self, gz: &str, out: &str) -> std::io::Result<()> {
        let (dir, name) = self.parent(gz, true)?;
        let fd = open_file(dir.as_fd(), &name, false, gz)?;
        // Every member: Frappe's backup is a header member, then the dump appended as
        // another (`gzip >> file`, frappe/utils/backups.py).
        let mut decoder = flate2::read::MultiGzDecoder::new(std::fs::File::from(fd));
        self.write_new(out, &mut decoder, true)?;
        self.remove_file(gz)
    }

    /// Gives a descriptor the owner of `sites/` when the tool runs as root (bench drops to
    /// its own user, `frappe_user`, and must be able to use the tool's folder).
    fn give_to(&self, fd: impl AsFd, owner: Option<&rfs::Stat>) -> std::io::Result<()> {
        let Some(owner) = owner.filter(|_| self.root) else {
            return Ok(());
        };
        let have = rfs::fstat(&fd)?;
        if (have.st_uid, have.st_gid) == (owner.st_uid, owner.st_gid) {
            return Ok(());
        }
        Ok(rfs::fchown(
            fd,
            Some(rfs::Uid::from_raw(owner.st_uid)),
            Some(rfs::Gid::from_raw(owner.st_gid)),
        )?)
    }
}

/// `rel` split into names: relative, no empty, `.` or `..` component, no NUL.
fn components(rel: &str) -> std::io::Result<Vec<CString>> {
    let bad = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{rel:?} is not a plain path inside the bench"),
        )
    };
    // An empty or absolute `rel` has an empty first component.
    rel.split('/')
        .map(|c| match c {
            "" | "." | ".." => Err(bad()),
            c => CString::new(c).map_err(|_| bad()),
        })
        .collect()
}

fn is_a_link(rel: &str) -> std::io::Error {
    std::io::Error::other(format!(
        "{rel} is a symbolic link: the tool follows no link below the bench directory \
         (the bench's owner controls them; as root that would hand them root's power)"
    ))
}

/// The regular file `name` in `at` opened for reading, following a link at `name` only
/// with `follow`. Anything else is refused without blocking: a FIFO planted in its place
/// would hold a plain open until someone wrote to it (hence `O_NONBLOCK`, which changes
/// nothing for a regular file), a device would never end.
fn open_file(at: BorrowedFd<'_>, name: &CStr, follow: bool, rel: &str) -> std::io::Result<OwnedFd> {
    let mut flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = rfs::openat(at, name, flags, Mode::empty()).map_err(|e| explain(at, name, e, rel))?;
    if FileType::from_raw_mode(rfs::fstat(&fd)?.st_mode) != FileType::RegularFile {
        return Err(std::io::Error::other(format!(
            "{rel} is not a regular file: the tool reads only plain files below the bench"
        )));
    }
    Ok(fd)
}

/// An open that failed: a link where none is followed says so plainly.
fn explain(at: BorrowedFd<'_>, name: &CStr, e: Errno, rel: &str) -> std::io::Error {
    if matches!(e, Errno::LOOP | Errno::NOTDIR | Errno::MLINK) {
        if let Ok(FileType::Symlink) = kind_at(at, name) {
            return is_a_link(rel);
        }
    }
    e.into()
}

/// The bytes of the regular files in an open directory and below, no link followed.
fn tree_size(dir: BorrowedFd<'_>) -> std::io::Result<u64> {
    let mut total = 0;
    for (name, _) in entries(dir)? {
        let st = rfs::statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW)?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => total += st.st_size as u64,
            FileType::Directory => {
                match rfs::openat(dir, &name, FOLDER, Mode::empty()) {
                    Ok(sub) => total += tree_size(sub.as_fd())?,
                    // Gone or replaced by a link since it was listed: nothing to count.
                    Err(Errno::NOENT | Errno::LOOP | Errno::NOTDIR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            _ => {}
        }
    }
    Ok(total)
}

fn kind_at(dir: BorrowedFd<'_>, name: &CStr) -> std::io::Result<FileType> {
    let st = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(FileType::from_raw_mode(st.st_mode))
}

/// The entries of an open directory, but `.` and `..`, with the type readdir gave.
fn entries(dir: BorrowedFd<'_>) -> std::io::Result<Vec<(CString, FileType)>> {
    let mut out = vec![];
    for entry in rfs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        out.push((name.to_owned(), entry.file_type()));
    }
    Ok(out)
}

/// Removes `name` in `dir`: a directory with everything in it (opened without following,
/// so one swapped for a link meanwhile is unlinked itself), anything else unlinked.
fn remove_entry(dir: BorrowedFd<'_>, name: &CStr) -> std::io::Result<()> {
    match rfs::openat(dir, name, FOLDER, Mode::empty()) {
        Ok(sub) => {
            for (child, _) in entries(sub.as_fd())? {
                remove_entry(sub.as_fd(), &child)?;
            }
            drop(sub);
            match rfs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
                Ok(()) | Err(Errno::NOENT) => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        Err(Errno::NOTDIR | Errno::LOOP) => match rfs::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        },
        Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    /// What the tool says when it meets a link it does not follow (the kernel's own
    /// "Too many levels of symbolic links" does not count).
    fn refused_as_a_link(r: std::io::Result<impl std::fmt::Debug>) {
        let e = r.expect_err("a link the tool must not follow was followed");
        assert!(
            e.to_string().contains("the tool follows no link"),
            "not refused as a link: {e}"
        );
    }

    /// A bench whose owner planted links to files it could not read itself:
    /// `sites/linked` -> a folder outside, `sites/real/secret.json` -> a file outside.
    struct Planted {
        outside: tempfile::TempDir,
        bench: tempfile::TempDir,
    }

    impl Planted {
        fn new() -> Self {
            let outside = tempfile::tempdir().unwrap();
            std::fs::write(outside.path().join("secret"), "root's").unwrap();
            std::fs::create_dir(outside.path().join("dir")).unwrap();
            std::fs::write(outside.path().join("dir/site_config.json"), "{}").unwrap();
            let bench = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(bench.path().join("sites/real")).unwrap();
            std::fs::write(
                bench.path().join("sites/real/site_config.json"),
                "{\"a\":1}",
            )
            .unwrap();
            symlink(
                outside.path().join("dir"),
                bench.path().join("sites/linked"),
            )
            .unwrap();
            symlink(
                outside.path().join("secret"),
                bench.path().join("sites/real/secret.json"),
            )
            .unwrap();
            Self { outside, bench }
        }

        fn tree(&self, root: bool) -> Tree {
            Tree::as_account(self.bench.path(), root)
        }

        fn assert_outside_untouched(&self) {
            let o = self.outside.path();
            assert_eq!(std::fs::read_to_string(o.join("secret")).unwrap(), "root's");
            let names: Vec<_> = std::fs::read_dir(o.join("dir"))
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, ["site_config.json"]);
        }
    }

    /// Whether these tests run as root (CI must: the ownership tests are about root).
    fn as_root() -> bool {
        // SAFETY: geteuid cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        assert!(
            root || std::env::var("CI").is_err(),
            "CI must run the tests as root"
        );
        root
    }

    #[test]
    fn as_root_reads_follow_no_link_below_the_bench() {
        let p = Planted::new();
        let t = p.tree(true);
        refused_as_a_link(t.read("sites/linked/site_config.json"));
        refused_as_a_link(t.read("sites/real/secret.json"));
        refused_as_a_link(t.list("sites/linked", true));
        refused_as_a_link(t.size("sites/linked"));
        refused_as_a_link(t.exists("sites/linked/site_config.json"));
        // What it opens is never inherited by a child bench started meanwhile.
        let f = t.open("sites/real/site_config.json").unwrap().unwrap();
        let fd_flags = rustix::io::fcntl_getfd(&f).unwrap();
        assert!(fd_flags.contains(rustix::io::FdFlags::CLOEXEC));
        assert_eq!(
            t.read("sites/real/site_config.json").unwrap().as_deref(),
            Some("{\"a\":1}")
        );
        assert_eq!(t.list("sites", false).unwrap(), ["real"]);
        assert_eq!(t.list("sites/real", true).unwrap(), ["site_config.json"]);
    }

    #[test]
    fn as_another_account_reads_follow_links_as_that_account_would() {
        let p = Planted::new();
        let t = p.tree(false);
        assert_eq!(
            t.read("sites/linked/site_config.json").unwrap().as_deref(),
            Some("{}")
        );
        assert_eq!(
            t.read("sites/real/secret.json").unwrap().as_deref(),
            Some("root's")
        );
        assert_eq!(t.list("sites/linked", true).unwrap(), ["site_config.json"]);
        assert_eq!(t.size("sites/linked").unwrap(), 2);
        // A link is never listed as a site, whoever reads.
        assert_eq!(t.list("sites", false).unwrap(), ["real"]);
        assert_eq!(t.list("sites/real", true).unwrap(), ["site_config.json"]);
    }

    #[test]
    fn existence_counts_a_link_and_nothing_more() {
        let p = Planted::new();
        for t in [p.tree(true), p.tree(false)] {
            assert!(t.exists("sites/linked").unwrap());
            assert!(t.exists("sites/real/secret.json").unwrap());
            assert!(t.exists("sites/real/site_config.json").unwrap());
            assert!(!t.exists("sites/real/none.json").unwrap());
            assert!(!t.exists("sites/none/site_config.json").unwrap());
            assert_eq!(t.read("sites/real/none.json").unwrap(), None);
            assert_eq!(t.read("sites/none/site_config.json").unwrap(), None);
            assert!(t.list("sites/none", false).unwrap().is_empty());
            assert_eq!(t.size("sites/none").unwrap(), 0);
        }
    }

    #[test]
    fn writes_follow_no_link_below_sites_whoever_runs() {
        let p = Planted::new();
        for t in [p.tree(true), p.tree(false)] {
            refused_as_a_link(t.write_new("sites/linked/x", &mut &b"x"[..], false));
            refused_as_a_link(t.remove_file("sites/linked/site_config.json"));
            refused_as_a_link(t.remove_tree("sites/linked"));
            refused_as_a_link(t.remove_tree("sites/linked/sub"));
            refused_as_a_link(t.rename_noreplace("sites/linked", "sites/taken"));
            refused_as_a_link(t.gunzip("sites/real/secret.json", "sites/real/out.sql"));
            assert!(!p.bench.path().join("sites/taken").exists());
            assert!(!p.bench.path().join("sites/real/out.sql").exists());
            p.assert_outside_untouched();
        }
        // Removing a link removes the link, never what it points to.
        p.tree(true).remove_file("sites/real/secret.json").unwrap();
        assert!(!p.bench.path().join("sites/real/secret.json").exists());
        p.assert_outside_untouched();
    }

    #[test]
    fn a_linked_sites_folder_is_followed_for_writes_only_by_another_account() {
        let outside = tempfile::tempdir().unwrap();
        let bench = tempfile::tempdir().unwrap();
        symlink(outside.path(), bench.path().join("sites")).unwrap();
        refused_as_a_link(Tree::as_account(bench.path(), true).write_new(
            "sites/.frappe-tenant/id",
            &mut &b"x"[..],
            false,
        ));
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
        Tree::as_account(bench.path(), false)
            .write_new("sites/.frappe-tenant/id", &mut &b"x"[..], false)
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(outside.path().join(".frappe-tenant/id")).unwrap(),
            "x"
        );
    }

    #[test]
    fn a_link_planted_at_the_temporary_name_is_never_written_through() {
        let p = Planted::new();
        let dir = p.bench.path().join("sites/real");
        let tmp = dir.join(".id.tmp-000000000000002a");
        symlink(p.outside.path().join("secret"), &tmp).unwrap();
        for root in [true, false] {
            let e = p
                .tree(root)
                .write_new_via("sites/real/id", &mut &b"x"[..], true, 42)
                .unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists, "{e}");
            p.assert_outside_untouched();
            assert!(!dir.join("id").exists());
            // What the tool did not make, it does not remove.
            assert!(tmp.symlink_metadata().unwrap().file_type().is_symlink());
        }
    }

    #[test]
    fn a_missing_sites_folder_is_never_made() {
        let bench = tempfile::tempdir().unwrap();
        let e = Tree::new(bench.path())
            .write_new("sites/.frappe-tenant/id", &mut &b"x"[..], false)
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
        assert!(!bench.path().join("sites").exists());
    }

    #[test]
    fn as_root_what_the_tool_writes_belongs_to_the_owner_of_sites() {
        if !as_root() {
            return;
        }
        let bench = tempfile::tempdir().unwrap();
        let sites = bench.path().join("sites");
        std::fs::create_dir(&sites).unwrap();
        std::os::unix::fs::chown(&sites, Some(65534), Some(65534)).unwrap();
        Tree::as_account(bench.path(), true)
            .write_new("sites/.frappe-tenant/sub/f", &mut &b"x"[..], false)
            .unwrap();
        for made in [
            ".frappe-tenant",
            ".frappe-tenant/sub",
            ".frappe-tenant/sub/f",
        ] {
            let meta = std::fs::metadata(sites.join(made)).unwrap();
            assert_eq!((meta.uid(), meta.gid()), (65534, 65534), "{made}");
        }
        let mode = std::fs::metadata(sites.join(".frappe-tenant/sub/f"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // Not running as root, the tool gives nothing away (it could not).
        Tree::as_account(bench.path(), false)
            .write_new("sites/.other/f", &mut &b"x"[..], false)
            .unwrap();
        for made in [".other", ".other/f"] {
            let meta = std::fs::metadata(sites.join(made)).unwrap();
            assert_eq!((meta.uid(), meta.gid()), (0, 0), "{made}");
        }
    }

    #[test]
    fn size_counts_the_regular_files_below_and_no_link() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("big"), [0u8; 100]).unwrap();
        let bench = tempfile::tempdir().unwrap();
        let site = bench.path().join("sites/a");
        std::fs::create_dir_all(site.join("sub/deeper")).unwrap();
        std::fs::write(site.join("f1"), "abc").unwrap();
        std::fs::write(site.join("sub/f2"), "abcde").unwrap();
        std::fs::write(site.join("sub/deeper/f3"), "abcdefg").unwrap();
        symlink(outside.path().join("big"), site.join("big")).unwrap();
        symlink(outside.path(), site.join("sub/dir")).unwrap();
        for root in [true, false] {
            assert_eq!(
                Tree::as_account(bench.path(), root)
                    .size("sites/a")
                    .unwrap(),
                15
            );
        }
    }

    #[test]
    fn a_list_gives_the_sorted_names_of_one_kind() {
        let bench = tempfile::tempdir().unwrap();
        let sites = bench.path().join("sites");
        for d in ["b.localhost", "a.localhost", ".frappe-tenant"] {
            std::fs::create_dir_all(sites.join(d)).unwrap();
        }
        std::fs::write(sites.join("common_site_config.json"), "{}").unwrap();
        std::fs::write(sites.join("apps.txt"), "frappe").unwrap();
        symlink(sites.join("a.localhost"), sites.join("c.localhost")).unwrap();
        let t = Tree::new(bench.path());
        assert_eq!(
            t.list("sites", false).unwrap(),
            [".frappe-tenant", "a.localhost", "b.localhost"]
        );
        assert_eq!(
            t.list("sites", true).unwrap(),
            ["apps.txt", "common_site_config.json"]
        );
    }

    #[test]
    fn a_rename_never_replaces_anything() {
        let bench = tempfile::tempdir().unwrap();
        let sites = bench.path().join("sites");
        std::fs::create_dir_all(sites.join("a")).unwrap();
        std::fs::write(sites.join("a/f"), "a's").unwrap();
        std::fs::create_dir_all(sites.join("c")).unwrap();
        let t = Tree::new(bench.path());
        t.rename_noreplace("sites/a", "sites/b").unwrap();
        assert_eq!(std::fs::read_to_string(sites.join("b/f")).unwrap(), "a's");
        assert!(!sites.join("a").exists());
        let e = t.rename_noreplace("sites/b", "sites/c").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists, "{e}");
        assert!(sites.join("b/f").exists());
        assert!(std::fs::read_dir(sites.join("c")).unwrap().next().is_none());
    }

    /// `f`'s result, or a failed test when it has not returned within a few seconds.
    fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(f()));
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{what} blocked"))
    }

    #[test]
    fn a_fifo_in_place_of_a_file_or_folder_never_blocks_the_tool() {
        let bench = tempfile::tempdir().unwrap();
        let site = bench.path().join("sites/a.localhost");
        std::fs::create_dir_all(&site).unwrap();
        for fifo in [
            site.join("site_config.json"),
            site.join("b.sql.gz"),
            bench.path().join("sites/b.localhost"),
        ] {
            let c = CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        }
        let path = bench.path().to_path_buf();
        for root in [true, false] {
            let t = Tree::as_account(&path, root);
            let e = within("reading a fifo", {
                let t = t.clone();
                move || t.read("sites/a.localhost/site_config.json").unwrap_err()
            });
            assert!(e.to_string().contains("not a regular file"), "{e}");
            let e = within("unpacking a fifo", {
                let t = t.clone();
                move || {
                    t.gunzip("sites/a.localhost/b.sql.gz", "sites/a.localhost/t.sql")
                        .unwrap_err()
                }
            });
            assert!(e.to_string().contains("not a regular file"), "{e}");
            within("listing a fifo", {
                let t = t.clone();
                move || t.list("sites/b.localhost", true).unwrap_err()
            });
            within("sizing a fifo", {
                let t = t.clone();
                move || t.size("sites/b.localhost").unwrap_err()
            });
            within("writing below a fifo", {
                let t = t.clone();
                move || {
                    t.write_new("sites/b.localhost/x", &mut &b"x"[..], false)
                        .unwrap_err()
                }
            });
            assert_eq!(t.list("sites", false).unwrap(), ["a.localhost"]);
        }
    }

    #[test]
    fn a_file_or_folder_is_removed_and_absent_is_fine() {
        let bench = tempfile::tempdir().unwrap();
        let sites = bench.path().join("sites");
        std::fs::create_dir_all(sites.join("a")).unwrap();
        std::fs::write(sites.join("a/f"), "x").unwrap();
        std::fs::write(sites.join("g"), "x").unwrap();
        let t = Tree::new(bench.path());
        t.remove_file("sites/a/f").unwrap();
        assert!(!sites.join("a/f").exists());
        t.remove_file("sites/a/f").unwrap();
        t.remove_file("sites/none/f").unwrap();
        t.remove_tree("sites/g").unwrap();
        assert!(!sites.join("g").exists());
        t.remove_tree("sites/none/x").unwrap();
        assert!(sites.join("a").is_dir());
    }

    #[test]
    fn only_plain_relative_paths_are_resolved() {
        assert!(components("sites/a.localhost/site_config.json").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "sites/../etc",
            "sites//x",
            "./sites",
            "a\0b",
        ] {
            assert!(components(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_tree_is_removed_without_following_the_links_in_it() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), "x").unwrap();
        let bench = tempfile::tempdir().unwrap();
        let site = bench.path().join("sites/a.localhost/private");
        std::fs::create_dir_all(&site).unwrap();
        std::fs::write(site.join("f"), "y").unwrap();
        std::os::unix::fs::symlink(outside.path(), site.join("link")).unwrap();
        let tree = Tree::new(bench.path());
        tree.remove_tree("sites/a.localhost").unwrap();
        assert!(!bench.path().join("sites/a.localhost").exists());
        assert!(outside.path().join("keep").exists());
        // Absent is fine.
        tree.remove_tree("sites/a.localhost").unwrap();
    }

    #[test]
    fn a_link_in_place_of_a_folder_is_refused_for_writes() {
        let outside = tempfile::tempdir().unwrap();
        let bench = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(bench.path().join("sites")).unwrap();
        std::os::unix::fs::symlink(outside.path(), bench.path().join("sites/.frappe-tenant"))
            .unwrap();
        let tree = Tree::new(bench.path());
        let e = tree
            .write_new("sites/.frappe-tenant/bench-id", &mut &b"x"[..], false)
            .unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
        let e = tree.remove_tree("sites/.frappe-tenant").unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
    }

    #[test]
    fn a_gzip_of_several_members_unpacks_whole() {
        use std::io::Write;
        let bench = tempfile::tempdir().unwrap();
        let dir = bench.path().join("sites/.frappe-tenant");
        std::fs::create_dir_all(&dir).unwrap();
        let mut gz = vec![];
        for part in ["-- header\n", "CREATE TABLE t (x INT);\n"] {
            let mut e = flate2::write::GzEncoder::new(vec![], flate2::Compression::fast());
            e.write_all(part.as_bytes()).unwrap();
            gz.extend(e.finish().unwrap());
        }
        std::fs::write(dir.join("b.sql.gz"), gz).unwrap();
        let tree = Tree::new(bench.path());
        tree.gunzip(
            "sites/.frappe-tenant/b.sql.gz",
            "sites/.frappe-tenant/t.sql",
        )
        .unwrap();
        assert_eq!(
            tree.read("sites/.frappe-tenant/t.sql").unwrap().unwrap(),
            "-- header\nCREATE TABLE t (x INT);\n"
        );
        assert!(!dir.join("b.sql.gz").exists());
    }

    #[test]
    fn a_new_file_never_replaces_one_without_replace() {
        let bench = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(bench.path().join("sites")).unwrap();
        let tree = Tree::new(bench.path());
        tree.write_new("sites/.frappe-tenant/id", &mut &b"first"[..], false)
            .unwrap();
        tree.write_new("sites/.frappe-tenant/id", &mut &b"second"[..], false)
            .unwrap();
        assert_eq!(
            tree.read("sites/.frappe-tenant/id").unwrap().unwrap(),
            "first"
        );
        tree.write_new("sites/.frappe-tenant/id", &mut &b"third"[..], true)
            .unwrap();
        assert_eq!(
            tree.read("sites/.frappe-tenant/id").unwrap().unwrap(),
            "third"
        );
        assert_eq!(tree.list("sites/.frappe-tenant", true).unwrap(), ["id"]);
    }
}

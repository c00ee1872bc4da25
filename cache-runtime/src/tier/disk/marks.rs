//! The generations of the disk tier: when each cache and each tag was last invalidated or
//! expired, as wall-clock milliseconds, kept in one small file next to the engine's.
//!
//! The process tier's generations are counters that start from 0 in every process, so a
//! record cannot carry them across a restart. A record carries instead when its
//! computation began, its cache and its tags; it is rejected when one of those was
//! invalidated at or after that moment. The marks are written (to a temporary file, then
//! renamed) before `invalidate_all`/`invalidate_tag`/`expire*` return, so they survive a
//! SIGKILL that follows. A marks file that cannot be read back whole invalidates every
//! record written before this process started.
//!
//! A mark that cannot be written (a full or read-only disk) flags the directory's lock
//! file instead, through the descriptor the tier holds open from its start (a directory
//! made read-only since, or a full disk, does not stop an in-place write of a few bytes
//! the file already has): the next start then ignores every record older than itself,
//! writes that as an `a` line and clears the flag.
//!
//! ```text
//! "CRDM" u8 format, then lines "c<TAB>name<TAB>ms" (cache), "t<TAB>name<TAB>ms" (tag) and
//! "a<TAB><TAB>ms" (every record), then [32] blake3 of everything before it
//! ```

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

const MAGIC: &[u8; 4] = b"CRDM";
const FORMAT: u8 = 1;
const FILE: &str = "generations";
/// The lock file's content: the flag, in place at offset 0 (same length both ways).
const CLEAR: &[u8; 11] = b"marks ok  \n";
const LOST: &[u8; 11] = b"marks lost\n";

/// Whether a mark names a cache or a tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Of {
    Cache,
    Tag,
}

#[derive(Default)]
struct State {
    marks: HashMap<(Of, String), u64>,
    /// Every record that began at or before this is rejected (a lost marks file).
    all: u64,
}

/// The marks of one disk tier.
pub(crate) struct Marks {
    path: PathBuf,
    state: Mutex<State>,
    /// The lock file, where a mark that could not be written is flagged.
    flag: Option<File>,
}

impl Marks {
    /// Reads the marks in `dir`; a missing file is no marks, an unreadable one (or a
    /// flag in `lock`, the directory's lock file) rejects every record older than
    /// `now_ms`.
    pub(crate) fn load(dir: &Path, now_ms: u64, lock: Option<&File>) -> Self {
        let path = dir.join(FILE);
        let mut state = match std::fs::read(&path) {
            Ok(bytes) => parse(&bytes).unwrap_or_else(|| {
                tracing::warn!(path = %path.display(), "disk cache generations file is damaged: every record written before now is ignored");
                State {
                    marks: HashMap::new(),
                    all: now_ms,
                }
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "disk cache generations file unreadable: every record written before now is ignored");
                State {
                    marks: HashMap::new(),
                    all: now_ms,
                }
            }
        };
        let flag = lock.and_then(|f| f.try_clone().ok());
        let mut head = [0; LOST.len()];
        let lost = flag
            .as_ref()
            .is_some_and(|f| f.read_exact_at(&mut head, 0).is_ok() && head == *LOST);
        if lost {
            tracing::warn!(path = %path.display(), "a disk cache invalidation was not written: every record written before now is ignored");
            state.all = state.all.max(now_ms);
        }
        let me = Self {
            path,
            state: Mutex::new(state),
            flag,
        };
        // The flag is cleared once the marks file says as much; a fresh lock file gets
        // its bytes, so that a later flag is an in-place write.
        let saved = !lost || write(&me.path, &me.state.lock()).is_ok();
        if saved && let Some(f) = &me.flag {
            let _ = f.write_all_at(CLEAR, 0).and_then(|()| f.sync_data());
        }
        me
    }

    /// Records an invalidation of `name` at `ms` and writes the file.
    pub(crate) fn mark(&self, of: Of, name: &str, ms: u64) {
        let mut st = self.state.lock();
        let at = st.marks.entry((of, name.to_owned())).or_default();
        *at = (*at).max(ms);
        if let Err(e) = write(&self.path, &st) {
            // The mark holds in this process; a restart could serve what it invalidated,
            // so every record older than the next start is given up then (see `load`).
            tracing::error!(path = %self.path.display(), error = %e, "disk cache generations not written: records are ignored after a restart");
            let flagged = self
                .flag
                .as_ref()
                .is_some_and(|f| f.write_all_at(LOST, 0).and_then(|()| f.sync_data()).is_ok());
            if !flagged {
                let _ = std::fs::remove_file(&self.path);
                let _ = std::fs::write(&self.path, b"lost");
            }
        }
    }

    /// Whether a record of `cache` with `tags`, begun at `began_ms`, still holds.
    pub(crate) fn holds(&self, cache: &str, tags: &[&str], began_ms: u64) -> bool {
        let st = self.state.lock();
        if began_ms <= st.all {
            return false;
        }
        let after = |of: Of, name: &str| {
            st.marks
                .get(&(of, name.to_owned()))
                .is_none_or(|&ms| began_ms > ms)
        };
        after(Of::Cache, cache) && tags.iter().all(|t| after(Of::Tag, t))
    }
}

fn parse(bytes: &[u8]) -> Option<State> {
    if bytes.len() < 5 + 32 || &bytes[..4] != MAGIC || bytes[4] != FORMAT {
        return None;
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    if blake3::hash(body).as_bytes() != sum {
        return None;
    }
    let text = std::str::from_utf8(&body[5..]).ok()?;
    let mut marks = HashMap::new();
    let mut all = 0;
    for line in text.lines().filter(|l| !l.is_empty()) {
        let mut parts = line.splitn(3, '\t');
        let of = match parts.next()? {
            "c" => Some(Of::Cache),
            "t" => Some(Of::Tag),
            "a" => None,
            _ => return None,
        };
        let name = parts.next()?;
        let ms = parts.next()?.parse().ok()?;
        match of {
            Some(of) => {
                marks.insert((of, name.to_owned()), ms);
            }
            None => all = ms,
        }
    }
    Some(State { marks, all })
}

fn write(path: &Path, st: &State) -> std::io::Result<()> {
    let mut body = Vec::with_capacity(64 * st.marks.len() + 8);
    body.extend_from_slice(MAGIC);
    body.push(FORMAT);
    if st.all > 0 {
        body.extend_from_slice(format!("a\t\t{}\n", st.all).as_bytes());
    }
    for ((of, name), ms) in &st.marks {
        // A name with a tab or a newline cannot be written as a line: its mark is kept
        // as the marks-file-lost rule (every record older than the next start ignored).
        if name.contains(['\t', '\n']) {
            return Err(std::io::Error::other(
                "cache or tag name with a tab or newline",
            ));
        }
        let c = if *of == Of::Cache { 'c' } else { 't' };
        body.extend_from_slice(format!("{c}\t{name}\t{ms}\n").as_bytes());
    }
    let sum = blake3::hash(&body);
    body.extend_from_slice(sum.as_bytes());
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&body)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_survive_a_reload_and_a_damaged_file_rejects_older_records() {
        let dir = std::env::temp_dir().join(format!("disk-marks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("test");
        let m = Marks::load(&dir, 1, None);
        assert!(m.holds("users", &["a"], 5));
        m.mark(Of::Cache, "users", 10);
        m.mark(Of::Tag, "a", 20);
        assert!(!m.holds("users", &[], 10));
        assert!(m.holds("users", &[], 11));
        assert!(!m.holds("users", &["a"], 15));
        let again = Marks::load(&dir, 100, None);
        assert!(!again.holds("users", &[], 10) && again.holds("users", &[], 11));
        assert!(!again.holds("other", &["a"], 20) && again.holds("other", &["a"], 21));
        std::fs::write(
            dir.join(FILE),
            b"CRDM\x01garbage that is not summed........................",
        )
        .expect("test");
        let damaged = Marks::load(&dir, 100, None);
        assert!(!damaged.holds("other", &[], 99) && damaged.holds("other", &[], 101));
        std::fs::remove_dir_all(&dir).expect("test");
    }

    #[test]
    fn a_mark_that_cannot_be_written_flags_the_lock_file_and_the_next_start_rejects_older_records()
    {
        let dir = std::env::temp_dir().join(format!("disk-marks-flag-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("test");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(dir.join("LOCK"))
            .expect("test");
        let m = Marks::load(&dir, 1, Some(&lock));
        m.mark(Of::Cache, "users", 10);
        // The temporary file's path taken by a directory: the next write fails.
        std::fs::create_dir(dir.join("generations.tmp")).expect("test");
        m.mark(Of::Tag, "a", 20);
        assert_eq!(std::fs::read(dir.join("LOCK")).expect("test"), LOST);
        std::fs::remove_dir(dir.join("generations.tmp")).expect("test");
        let again = Marks::load(&dir, 50, Some(&lock));
        assert!(!again.holds("other", &["a"], 50) && again.holds("other", &["a"], 51));
        assert_eq!(std::fs::read(dir.join("LOCK")).expect("test"), CLEAR);
        // Written down as an `a` line: a third start, unflagged, still rejects them.
        let third = Marks::load(&dir, 100, Some(&lock));
        assert!(!third.holds("other", &[], 50) && third.holds("other", &[], 51));
        std::fs::remove_dir_all(&dir).expect("test");
    }
}

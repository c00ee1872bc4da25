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
//! ```text
//! "CRDM" u8 format, then lines "c<TAB>name<TAB>ms" (cache) and "t<TAB>name<TAB>ms" (tag),
//! then [32] blake3 of everything before it
//! ```

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

const MAGIC: &[u8; 4] = b"CRDM";
const FORMAT: u8 = 1;
const FILE: &str = "generations";

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
}

impl Marks {
    /// Reads the marks in `dir`; a missing file is no marks, an unreadable one rejects
    /// every record older than `now_ms`.
    pub(crate) fn load(dir: &Path, now_ms: u64) -> Self {
        let path = dir.join(FILE);
        let state = match std::fs::read(&path) {
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
        Self {
            path,
            state: Mutex::new(state),
        }
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
            let _ = std::fs::remove_file(&self.path);
            let _ = std::fs::write(&self.path, b"lost");
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
    for line in text.lines().filter(|l| !l.is_empty()) {
        let mut parts = line.splitn(3, '\t');
        let of = match parts.next()? {
            "c" => Of::Cache,
            "t" => Of::Tag,
            _ => return None,
        };
        let name = parts.next()?;
        let ms = parts.next()?.parse().ok()?;
        marks.insert((of, name.to_owned()), ms);
    }
    Some(State { marks, all: 0 })
}

fn write(path: &Path, st: &State) -> std::io::Result<()> {
    let mut body = Vec::with_capacity(64 * st.marks.len() + 8);
    body.extend_from_slice(MAGIC);
    body.push(FORMAT);
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
        let m = Marks::load(&dir, 1);
        assert!(m.holds("users", &["a"], 5));
        m.mark(Of::Cache, "users", 10);
        m.mark(Of::Tag, "a", 20);
        assert!(!m.holds("users", &[], 10));
        assert!(m.holds("users", &[], 11));
        assert!(!m.holds("users", &["a"], 15));
        let again = Marks::load(&dir, 100);
        assert!(!again.holds("users", &[], 10) && again.holds("users", &[], 11));
        assert!(!again.holds("other", &["a"], 20) && again.holds("other", &["a"], 21));
        std::fs::write(
            dir.join(FILE),
            b"CRDM\x01garbage that is not summed........................",
        )
        .expect("test");
        let damaged = Marks::load(&dir, 100);
        assert!(!damaged.holds("other", &[], 99) && damaged.holds("other", &[], 101));
        std::fs::remove_dir_all(&dir).expect("test");
    }
}

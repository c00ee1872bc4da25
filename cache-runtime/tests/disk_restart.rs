//! The disk tier across real restarts: each instance is a child process (this test binary
//! run again as `child_main`), driven over its stdin, stopped gracefully (stdin closed,
//! after `flush`) or with SIGKILL, and started again on the same directory.
#![cfg(feature = "disk")]

use std::io::{BufRead, BufReader, Lines, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cache_runtime::{CacheRuntime, Scope, ServedFrom, cache_result};
use test_support::files;

/// The disk of the bounded test; the others get 64 MiB (`DISK_CHILD_MAX`), so that
/// foyer's block eviction never takes what a restart test expects back.
const MAX_BYTES: u64 = 4 << 20;

static COMPUTED: AtomicU64 = AtomicU64::new(0);

#[cache_result("disk_values", ttl = 600, tags = [format!("group:{}", id % 2)])]
async fn value(id: u64) -> String {
    COMPUTED.fetch_add(1, Ordering::SeqCst);
    format!("value-{id}")
}

#[cache_result("disk_off", ttl = 600, disk = false)]
async fn off(id: u64) -> String {
    COMPUTED.fetch_add(1, Ordering::SeqCst);
    format!("off-{id}")
}

#[cache_result("disk_big", ttl = 600)]
async fn big(id: u64, len: usize) -> String {
    COMPUTED.fetch_add(1, Ordering::SeqCst);
    format!("{id:08}").repeat(len / 8)
}

/// One instance: reads commands, answers one line each.
fn child(dir: &str, namespace: &str, max_bytes: u64) {
    // `DISK_CHILD_LOCAL`: the in-process budget (a tiny one sends reads to the disk).
    let local = std::env::var("DISK_CHILD_LOCAL").map_or(64 << 20, |m| m.parse().expect("bytes"));
    let rt = CacheRuntime::builder()
        .namespace(namespace)
        .max_bytes(local)
        .disk(dir, max_bytes)
        .disk_max_value_bytes(64 << 10)
        .install()
        .expect("the child's runtime");
    let exec = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    println!("READY {}", rt.stats().disk.is_some());
    for line in std::io::stdin().lines().map_while(Result::ok) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = exec.block_on(async {
            match words[..] {
                ["get", a, b] => {
                    let (a, b): (u64, u64) =
                        (a.parse().expect("a number"), b.parse().expect("a number"));
                    let before = COMPUTED.load(Ordering::SeqCst);
                    let (mut right, mut disk) = (true, 0);
                    for id in a..=b {
                        let (v, o) = Scope::observe().run(value(id)).await;
                        right &= v == format!("value-{id}");
                        disk += u64::from(o.served_from() == Some(ServedFrom::Disk));
                    }
                    let computed = COMPUTED.load(Ordering::SeqCst) - before;
                    format!("{right} {disk} {computed}")
                }
                ["off", a, b] => {
                    let (a, b): (u64, u64) =
                        (a.parse().expect("a number"), b.parse().expect("a number"));
                    let before = COMPUTED.load(Ordering::SeqCst);
                    let mut right = true;
                    for id in a..=b {
                        right &= off(id).await == format!("off-{id}");
                    }
                    format!("{right} {}", COMPUTED.load(Ordering::SeqCst) - before)
                }
                ["big", a, b, len] => {
                    let (a, b): (u64, u64) =
                        (a.parse().expect("a number"), b.parse().expect("a number"));
                    let len: usize = len.parse().expect("a number");
                    let mut right = true;
                    for id in a..=b {
                        right &= big(id, len).await == format!("{id:08}").repeat(len / 8);
                    }
                    format!("{right}")
                }
                ["flush"] => {
                    let f = rt.flush(Duration::from_secs(10)).await;
                    format!("{}", f.is_complete())
                }
                // Computes ids a..=b and invalidates each right after its computation,
                // while its record is most likely still queued for the disk's writer.
                ["get_invalidate", a, b] => {
                    let (a, b): (u64, u64) =
                        (a.parse().expect("a number"), b.parse().expect("a number"));
                    let mut right = true;
                    for id in a..=b {
                        right &= value(id).await == format!("value-{id}");
                        rt.invalidate("disk_values", &(id,));
                    }
                    format!("{right}")
                }
                ["invalidate", id] => {
                    rt.invalidate("disk_values", &(id.parse::<u64>().expect("a number"),));
                    "ok".into()
                }
                ["invalidate_all"] => {
                    rt.invalidate_all("disk_values");
                    "ok".into()
                }
                ["invalidate_tag", tag] => {
                    rt.invalidate_tag(tag);
                    "ok".into()
                }
                ["stats"] => serde_json::to_string(&rt.stats().disk).expect("json"),
                _ => "unknown".into(),
            }
        });
        println!("{answer}");
    }
}

#[test]
fn child_main() {
    if let (Some(dir), Some(ns)) = (
        std::env::var_os("DISK_CHILD_DIR"),
        std::env::var_os("DISK_CHILD_NS"),
    ) {
        let max = std::env::var("DISK_CHILD_MAX").map_or(64 << 20, |m| m.parse().expect("bytes"));
        child(&dir.to_string_lossy(), &ns.to_string_lossy(), max);
    }
}

struct Instance {
    process: Child,
    lines: Lines<BufReader<ChildStdout>>,
    /// Whether its disk tier opened.
    disk: bool,
}

impl Instance {
    fn start(dir: &Path, namespace: &str) -> Self {
        Self::start_with(dir, namespace, 64 << 20)
    }

    fn start_with(dir: &Path, namespace: &str, max_bytes: u64) -> Self {
        Self::start_as(dir, namespace, max_bytes, Child_::Plain)
    }

    fn start_as(dir: &Path, namespace: &str, max_bytes: u64, how: Child_) -> Self {
        use std::os::unix::process::CommandExt;
        let exe = std::env::current_exe().expect("test binary");
        let mut command = match how {
            // SIGXFSZ ignored (inherited through exec): a write past RLIMIT_FSIZE fails
            // with EFBIG instead of killing the process.
            Child_::FullDisk => {
                let mut c = Command::new("sh");
                c.args(["-c", "trap '' XFSZ; exec \"$0\" \"$@\""]).arg(&exe);
                c
            }
            Child_::Plain | Child_::Nobody => Command::new(&exe),
        };
        if how == Child_::Nobody && is_root() {
            command.uid(NOBODY).gid(NOBODY);
        }
        let mut process = command
            .args(["--exact", "child_main", "--nocapture", "--test-threads=1"])
            .env("DISK_CHILD_DIR", dir)
            .env("DISK_CHILD_NS", namespace)
            .env("DISK_CHILD_MAX", max_bytes.to_string())
            // The full-disk instance keeps next to nothing in process: its reads go to disk.
            .env(
                "DISK_CHILD_LOCAL",
                if how == Child_::FullDisk {
                    "1024"
                } else {
                    "67108864"
                },
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("child runs");
        let mut lines = BufReader::new(process.stdout.take().expect("piped")).lines();
        let ready = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| l.split("READY ").nth(1).map(|d| d == "true"));
        let disk = ready.expect("the instance started");
        Self {
            process,
            lines,
            disk,
        }
    }

    fn ask(&mut self, question: &str) -> String {
        let stdin = self.process.stdin.as_mut().expect("piped");
        writeln!(stdin, "{question}").expect("child reads");
        let line = self.lines.next().expect("an answer").expect("a line");
        // On a line of its own: the harness printed the test's name without a newline.
        line.rsplit("child_main ... ")
            .next()
            .unwrap_or(&line)
            .to_owned()
    }

    /// `(all right, served from disk, computed)` for ids `a..=b`.
    fn get(&mut self, a: u64, b: u64) -> (bool, u64, u64) {
        let answer = self.ask(&format!("get {a} {b}"));
        let w: Vec<&str> = answer.split(' ').collect();
        assert_eq!(w.len(), 3, "answer: {answer}");
        (
            w[0] == "true",
            w[1].parse().expect("a number"),
            w[2].parse().expect("a number"),
        )
    }

    fn stats(&mut self) -> serde_json::Value {
        serde_json::from_str(&self.ask("stats")).expect("json")
    }

    /// Graceful stop: flush, then stdin closed and the process exits.
    fn stop(mut self) {
        assert_eq!(self.ask("flush"), "true");
        drop(self.process.stdin.take());
        let status = self.process.wait().expect("exits");
        assert!(status.success(), "{status:?}");
    }

    /// Stop after a flush that may not complete (a disk that failed): stdin closed, the
    /// process exits cleanly.
    fn stop_anyway(mut self) {
        let _ = self.ask("flush");
        drop(self.process.stdin.take());
        let status = self.process.wait().expect("exits");
        assert!(status.success(), "{status:?}");
    }

    fn kill(mut self) {
        self.process.kill().expect("SIGKILL");
        let _ = self.process.wait();
    }

    /// Sets the process's RLIMIT_FSIZE (soft; `None`: unlimited): a write past it fails.
    fn limit_file_size(&self, bytes: Option<u64>) {
        let soft = bytes.map_or("unlimited".to_owned(), |b| b.to_string());
        let status = Command::new("prlimit")
            .arg(format!("--pid={}", self.process.id()))
            .arg(format!("--fsize={soft}:unlimited"))
            .status()
            .expect("prlimit runs");
        assert!(status.success(), "prlimit: {status:?}");
    }
}

/// How a child instance runs.
#[derive(Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
enum Child_ {
    Plain,
    /// Ignoring SIGXFSZ, for [`Instance::limit_file_size`].
    FullDisk,
    /// As user `nobody` when the tests run as root (who ignores permission bits).
    Nobody,
}

const NOBODY: u32 = 65534;

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Sets the mode of `dir` (not recursive).
fn chmod(dir: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Sets the modes of `dir` and everything under it, directories `dir_mode`, files
/// `file_mode`.
fn chmod_all(dir: &Path, dir_mode: u32, file_mode: u32) {
    for f in files(dir) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(file_mode)).expect("chmod");
    }
    for e in std::fs::read_dir(dir).expect("test io").flatten() {
        if e.path().is_dir() {
            chmod_all(&e.path(), dir_mode, file_mode);
        }
    }
    chmod(dir, dir_mode);
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("disk-restart-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn bytes_on_disk(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    files(dir)
        .iter()
        .map(|p| std::fs::metadata(p).expect("test io").blocks() * 512)
        .sum()
}

#[test]
fn a_graceful_restart_serves_entries_from_disk_without_computing() {
    let dir = fresh_dir("graceful");
    let mut a = Instance::start(&dir, "app");
    assert!(a.disk, "the disk tier opened");
    assert_eq!(a.get(1, 200), (true, 0, 200));
    assert_eq!(a.ask("off 1 10"), "true 10");
    a.stop();
    let mut b = Instance::start(&dir, "app");
    assert_eq!(b.ask("off 1 10"), "true 10", "disk = false: computed again");
    assert_eq!(
        b.get(1, 200),
        (true, 200, 0),
        "every entry from disk, none computed"
    );
    // Filled in process: the second read is a local hit.
    assert_eq!(b.get(1, 200), (true, 0, 0));
    let stats = b.stats();
    assert_eq!(stats["hits"], 200, "{stats}");
    b.stop();
    std::fs::remove_dir_all(&dir).expect("test io");
}

#[test]
fn invalidations_reach_the_disk_across_a_restart() {
    let dir = fresh_dir("invalidate");
    let mut a = Instance::start(&dir, "app");
    assert_eq!(a.get(1, 20), (true, 0, 20));
    assert_eq!(a.ask("invalidate 3"), "ok");
    assert_eq!(a.ask("invalidate_tag group:0"), "ok");
    a.stop();
    let mut b = Instance::start(&dir, "app");
    // The odd ids but 3 come from disk; 3 and the even ids (tag group:0) are computed.
    assert_eq!(b.get(1, 20), (true, 9, 11));
    assert_eq!(b.ask("invalidate_all"), "ok");
    b.stop();
    let mut c = Instance::start(&dir, "app");
    assert_eq!(
        c.get(1, 20),
        (true, 0, 20),
        "invalidate_all held across the restart"
    );
    c.stop();
    std::fs::remove_dir_all(&dir).expect("test io");
}

#[test]
fn an_invalidation_right_after_the_computation_keeps_the_record_off_the_disk() {
    let dir = fresh_dir("queued");
    let mut a = Instance::start(&dir, "app");
    assert_eq!(a.get(1, 50), (true, 0, 50));
    // Each of 51..=100 invalidated as soon as it is computed: its record is dropped from
    // the writer's queue, or removed from the engine if the writer took it already.
    assert_eq!(a.ask("get_invalidate 51 100"), "true");
    let stats = a.stats();
    println!(
        "records dropped from the queue by their key's invalidation: {}",
        stats["skipped"]
    );
    assert_eq!(stats["dropped"], 0, "{stats}");
    a.stop();
    let mut b = Instance::start(&dir, "app");
    assert_eq!(b.get(1, 50), (true, 50, 0), "written records come back");
    assert_eq!(
        b.get(51, 100),
        (true, 0, 50),
        "no invalidated record comes back"
    );
    b.stop();
    std::fs::remove_dir_all(&dir).expect("test io");
}

#[test]
fn sigkill_loses_at_most_what_was_not_written_and_never_serves_a_wrong_value() {
    let dir = fresh_dir("kill");
    let mut a = Instance::start(&dir, "app");
    assert_eq!(a.get(1, 100), (true, 0, 100));
    assert_eq!(a.ask("flush"), "true");
    assert_eq!(a.get(101, 200), (true, 0, 100));
    a.kill();
    let mut b = Instance::start(&dir, "app");
    assert!(b.disk);
    let (right, disk, computed) = b.get(1, 200);
    assert!(right, "no wrong value");
    assert!(disk >= 100, "the flushed records survived: {disk}");
    assert_eq!(disk + computed, 200);
    b.stop();
    std::fs::remove_dir_all(&dir).expect("test io");
}

#[test]
fn corrupt_truncated_and_foreign_files_are_misses_never_wrong_values_or_failed_starts() {
    let dir = fresh_dir("corrupt");
    let mut a = Instance::start(&dir, "app");
    assert_eq!(a.get(1, 200), (true, 0, 200));
    a.stop();
    // Another namespace on the same files: nothing of "app" is served.
    let mut other = Instance::start(&dir, "other");
    assert!(other.disk);
    assert_eq!(other.get(1, 50), (true, 0, 50));
    other.stop();

    // Every byte of every engine file flipped in its middle third.
    for f in files(&dir.join("engine")) {
        let mut bytes = std::fs::read(&f).expect("test io");
        let n = bytes.len();
        for b in &mut bytes[n / 3..2 * n / 3] {
            *b ^= 0x5a;
        }
        std::fs::write(&f, bytes).expect("test io");
    }
    let mut b = Instance::start(&dir, "app");
    assert!(b.disk, "started with its disk tier");
    let (right, disk, computed) = b.get(1, 200);
    assert!(right, "no wrong value from flipped bytes");
    assert_eq!(disk + computed, 200);
    b.stop();

    // Truncated files, and a damaged generations file.
    for f in files(&dir.join("engine")) {
        let len = std::fs::metadata(&f).expect("test io").len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&f)
            .expect("test io")
            .set_len(len / 2)
            .expect("test io");
    }
    std::fs::write(dir.join("generations"), b"not a generations file").expect("test io");
    let mut c = Instance::start(&dir, "app");
    let (right, disk, computed) = c.get(1, 200);
    assert!(right, "no wrong value from truncated files");
    assert_eq!(
        (disk, computed),
        (0, 200),
        "a lost generations file rejects older records"
    );
    c.stop();

    // Files of another program in place of the engine's.
    for f in files(&dir.join("engine")) {
        std::fs::write(&f, b"#!/bin/sh\necho this is not a cache\n").expect("test io");
    }
    let mut d = Instance::start(&dir, "app");
    let (right, _, _) = d.get(1, 200);
    assert!(right, "no wrong value from foreign files");
    d.stop();
    std::fs::remove_dir_all(&dir).expect("test io");
}

#[test]
fn a_second_process_on_the_same_path_runs_without_the_disk_tier() {
    let dir = fresh_dir("twice");
    let a = Instance::start(&dir, "app");
    assert!(a.disk);
    let mut b = Instance::start(&dir, "app");
    assert!(!b.disk, "the lock refused the second process");
    assert_eq!(b.get(1, 10), (true, 0, 10), "and it still answers");
    b.stop();
    a.stop();
    std::fs::remove_dir_all(&dir).expect("test io");
}

#[test]
fn bytes_on_disk_stay_under_max_bytes_and_large_values_are_not_written() {
    let dir = fresh_dir("bounded");
    let mut a = Instance::start_with(&dir, "app", MAX_BYTES);
    // 4 MiB of disk, 16 MiB of 8 KiB values.
    assert_eq!(a.ask("big 1 2048 8192"), "true");
    // Over the 64 KiB value limit: not written.
    assert_eq!(a.ask("big 5000 5004 131072"), "true");
    assert_eq!(a.ask("flush"), "true");
    let stats = a.stats();
    assert_eq!(stats["too_large"], 5, "{stats}");
    let used = bytes_on_disk(&dir);
    assert!(
        used <= MAX_BYTES + (64 << 10),
        "{used} bytes on disk for {MAX_BYTES}"
    );
    a.stop();
    std::fs::remove_dir_all(&dir).expect("test io");
}

#[test]
fn a_full_disk_is_misses_never_wrong_values_a_crash_or_a_failed_start() {
    let dir = fresh_dir("full");
    let mut a = Instance::start_as(&dir, "app", 64 << 20, Child_::FullDisk);
    assert!(a.disk);
    assert_eq!(a.get(1, 100), (true, 0, 100));
    assert_eq!(a.ask("flush"), "true");
    // The disk is full from here: every write past a file's first 4 KiB fails with EFBIG
    // (RLIMIT_FSIZE; foyer's blocks are files of a block each, written in 4 KiB pages
    // past the first).
    a.limit_file_size(Some(4096));
    assert_eq!(a.get(101, 300), (true, 0, 200), "computed, right");
    let flushed = a.ask("flush");
    assert!(flushed == "true" || flushed == "false", "{flushed}");
    // Nothing kept in process: what was written before is read from disk, what could not
    // be written is computed again, and nothing is wrong.
    assert_eq!(a.get(1, 100), (true, 100, 0), "read from a full disk");
    let (right, disk, computed) = a.get(101, 300);
    assert!(right, "no wrong value");
    assert_eq!(disk + computed, 200);
    let stats = a.stats();
    // (Served from foyer's memory part, which holds the latest records.)
    println!("full disk: flush {flushed}; of 200 unwritten, {disk} served by the tier; {stats}");
    // Room again. foyer 0.22 does not resume: after its failed writes, nothing written by
    // this process is found by the next start (measured: 0 of 2,000, two blocks' worth).
    a.limit_file_size(None);
    assert_eq!(a.get(301, 400), (true, 0, 100));
    assert_eq!(a.ask("flush"), "true");
    a.stop_anyway();
    let mut b = Instance::start(&dir, "app");
    assert!(b.disk, "started with its disk tier");
    let (right, before, computed) = b.get(1, 300);
    println!("after the restart: {before} of 1-300 from disk, {computed} computed");
    assert!(right, "no wrong value");
    assert_eq!(before + computed, 300);
    assert!(
        before <= 100,
        "nothing written while the disk was full: {before}"
    );
    let (right, after, computed) = b.get(301, 400);
    println!("after the restart: {after} of 301-400 from disk");
    assert!(right, "no wrong value");
    assert_eq!(after + computed, 100);
    b.stop();
    // A new process writes again: what it computed comes back after the next restart.
    let mut c = Instance::start(&dir, "app");
    assert_eq!(c.get(1, 400), (true, 400, 0));
    c.stop();
    std::fs::remove_dir_all(&dir).expect("test io");
}

#[test]
fn a_read_only_directory_runs_without_the_disk_tier_and_answers_right() {
    let dir = fresh_dir("readonly");
    let mut a = Instance::start(&dir, "app");
    assert_eq!(a.get(1, 50), (true, 0, 50));
    a.stop();
    // As root the next instance runs as nobody, the files staying root's; otherwise the
    // write bits go.
    if !is_root() {
        chmod_all(&dir, 0o555, 0o444);
    }
    let mut b = Instance::start_as(&dir, "app", 64 << 20, Child_::Nobody);
    assert!(!b.disk, "the lock file cannot be opened for writing");
    assert_eq!(b.get(1, 50), (true, 0, 50), "computed, right");
    b.stop();
    chmod_all(&dir, 0o755, 0o644);
    std::fs::remove_dir_all(&dir).expect("test io");
}

#[test]
fn an_invalidation_on_a_directory_gone_read_only_still_holds_after_a_restart() {
    let dir = fresh_dir("gone-readonly");
    std::fs::create_dir_all(&dir).expect("test io");
    if is_root() {
        std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).expect("chown");
    }
    let mut a = Instance::start_as(&dir, "app", 64 << 20, Child_::Nobody);
    assert!(a.disk);
    assert_eq!(a.get(1, 20), (true, 0, 20));
    assert_eq!(a.ask("flush"), "true");
    // The generations file cannot be replaced any more (no new file in the directory):
    // the mark is flagged in the lock file, open since the start.
    chmod(&dir, 0o555);
    assert_eq!(a.ask("invalidate_all"), "ok");
    assert_eq!(a.get(1, 20), (true, 0, 20), "invalidated in process");
    a.stop_anyway();
    chmod(&dir, 0o755);
    let mut b = Instance::start_as(&dir, "app", 64 << 20, Child_::Nobody);
    assert!(b.disk);
    assert_eq!(
        b.get(1, 20),
        (true, 0, 20),
        "no record from before the invalidation"
    );
    b.stop();
    std::fs::remove_dir_all(&dir).expect("test io");
}

//! Methods with `&self`: `self` is not part of the key (but its type is).

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::cache_result;

struct Repo {
    prefix: String,
    calls: AtomicUsize,
}

impl Repo {
    #[cache_result("method_name", ttl = "5m")]
    async fn name(&self, id: u64) -> String {
        self.calls.fetch_add(1, Ordering::SeqCst);
        format!("{}{id}", self.prefix)
    }

    #[cache_result("method_len")]
    fn len(&self, text: &str) -> usize {
        self.calls.fetch_add(1, Ordering::SeqCst);
        text.len() + self.prefix.len()
    }

    /// An associated fn without a receiver.
    #[cache_result("method_assoc")]
    fn double(x: u32) -> u32 {
        x * 2
    }
}

struct Wrapper<T>(T);

impl<T: std::fmt::Display + Send + Sync + 'static> Wrapper<T> {
    #[cache_result("method_generic_impl")]
    fn show(&self, times: usize) -> String {
        self.0.to_string().repeat(times)
    }
}

#[tokio::main]
async fn main() {
    let repo = Repo {
        prefix: "user-".into(),
        calls: AtomicUsize::new(0),
    };
    assert_eq!(repo.name(7).await, "user-7");
    assert_eq!(repo.name(7).await, "user-7");
    assert_eq!(repo.len("abc"), 8);
    assert_eq!(repo.len("abc"), 8);
    assert_eq!(repo.calls.load(Ordering::SeqCst), 2);
    assert_eq!(Repo::double(4), 8);
    // Different `Self` types do not share entries.
    assert_eq!(Wrapper(1u8).show(2), "11");
    assert_eq!(Wrapper("a").show(2), "aa");
}

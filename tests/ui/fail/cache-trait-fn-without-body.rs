use cache_runtime::cache_result;

trait Repo {
    #[cache_result("users")]
    fn load(&self, id: u64) -> u64;
}

fn main() {}

use cache_runtime::cache_result;

#[cache_result("describe")]
fn describe<T: std::fmt::Debug>(value: T) -> String {
    format!("{value:?}")
}

fn main() {}

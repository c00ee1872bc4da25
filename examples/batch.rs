//! `#[cache_batch]`: one call for many ids, one cache entry per record. The body (a
//! stand-in for one database query) is called with only the ids no record holds.
//!
//! `cargo run -p examples --example batch`

use std::collections::HashMap;
use std::time::Duration;

use cache_runtime::cache_batch;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Price {
    sku: String,
    cents: u32,
}

/// One "query" for many SKUs; SKUs starting with `x` do not exist.
#[cache_batch("example_prices", ttl = "5m", missing_ttl = "30s")]
async fn prices(currency: String, skus: Vec<String>) -> Result<HashMap<String, Price>, String> {
    println!("  query for {skus:?} in {currency}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(skus
        .into_iter()
        .filter(|sku| !sku.starts_with('x'))
        .map(|sku| {
            let cents = sku.len() as u32 * 100;
            (sku.clone(), Price { sku, cents })
        })
        .collect())
}

fn skus(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::main]
async fn main() -> Result<(), String> {
    println!("first call: every SKU is missing");
    let got = prices("EUR".into(), skus(&["apple", "pear", "xenon"])).await?;
    println!("  {} found", got.len());

    println!("second call: only `plum` is queried (`xenon` is remembered as missing)");
    let got = prices("EUR".into(), skus(&["pear", "plum", "xenon", "apple"])).await?;
    println!("  {} found", got.len());

    println!("two overlapping calls at once: each SKU is queried once");
    let (a, b) = tokio::join!(
        prices("EUR".into(), skus(&["fig", "kiwi"])),
        prices("EUR".into(), skus(&["kiwi", "lime"])),
    );
    println!("  {} + {} found", a?.len(), b?.len());

    println!("one record invalidated: only it is queried again");
    prices_entry(&"EUR".to_owned(), &"pear".to_owned()).invalidate();
    prices("EUR".into(), skus(&["apple", "pear"])).await?;
    Ok(())
}

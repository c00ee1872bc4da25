//! Shared set-up for the examples: each example is a file beside this one, run with
//! `cargo run -p examples --example <name>` (see `README.md`).

/// Logs to stderr at the level in `RUST_LOG` (default `info`), so the runtime's
/// `tracing` events (slow calls, cache hits at `debug`) are visible.
///
/// ```
/// examples::init_logging();
/// ```
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

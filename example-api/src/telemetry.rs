//! Where the service's `tracing` output goes: log lines on stdout (filtered by
//! `RUST_LOG`, `info,sqlx=warn` by default) and, with `--otlp-endpoint` (feature `otlp`),
//! every span to an OpenTelemetry collector over OTLP/HTTP with protobuf.
//!
//! The spans are the HTTP layer's `request`, each `#[performance_timer]` (named after the
//! timer, with `code.function` and `code.namespace`), each cached call (`cache`, with
//! `cache.name`, `cache.outcome` and `cache.tier`) and its computation
//! (`cache.compute`), under which the queries' timers nest. The exporter sends them in
//! batches from a thread of its own; [`Telemetry`]'s drop flushes what is left.

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// Keeps the exporter alive; dropping it flushes the spans not yet sent.
#[must_use = "dropping it stops the trace export"]
pub struct Telemetry {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

/// The default log filter; the trace export (when on) gets every span at `info` and
/// above, whatever `RUST_LOG` says.
const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// Installs the process's subscriber: logs on stdout and, when `otlp_endpoint` is set,
/// traces to that collector (`http://host:4318`; `/v1/traces` is added unless present).
///
/// # Errors
///
/// An endpoint that is not a URL, or an endpoint in a build without the `otlp` feature.
pub fn init(otlp_endpoint: Option<&str>) -> Result<Telemetry, String> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    // A per-layer filter: it limits the log lines, not the spans another layer exports.
    let logs = tracing_subscriber::fmt::layer().with_filter(filter);
    match otlp_endpoint.filter(|e| !e.is_empty()) {
        None => {
            tracing_subscriber::registry().with(logs).init();
            Ok(Telemetry {
                #[cfg(feature = "otlp")]
                provider: None,
            })
        }
        #[cfg(feature = "otlp")]
        Some(endpoint) => otlp::init(endpoint, logs),
        #[cfg(not(feature = "otlp"))]
        Some(_) => Err("--otlp-endpoint needs a build with the `otlp` feature: \
             cargo run -p example-api --features otlp"
            .to_owned()),
    }
}

#[cfg(feature = "otlp")]
mod otlp {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig as _};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    use super::Telemetry;

    /// The collector's traces URL for a base such as `http://localhost:4318`.
    pub(super) fn traces_url(endpoint: &str) -> String {
        let base = endpoint.trim_end_matches('/');
        if base.ends_with("/v1/traces") {
            base.to_owned()
        } else {
            format!("{base}/v1/traces")
        }
    }

    pub(super) fn init<L>(endpoint: &str, logs: L) -> Result<Telemetry, String>
    where
        L: tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync + 'static,
    {
        let url = traces_url(endpoint);
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url.clone())
            .build()
            .map_err(|e| format!("--otlp-endpoint {endpoint}: {e}"))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name("example-api").build())
            .build();
        let tracer = provider.tracer("example-api");
        let traces = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(LevelFilter::INFO);
        tracing_subscriber::registry()
            .with(logs)
            .with(traces)
            .init();
        tracing::info!(%url, "exporting traces over OTLP/HTTP");
        Ok(Telemetry {
            provider: Some(provider),
        })
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn the_traces_path_is_added_once() {
            assert_eq!(
                super::traces_url("http://c:4318"),
                "http://c:4318/v1/traces"
            );
            assert_eq!(
                super::traces_url("http://c:4318/"),
                "http://c:4318/v1/traces"
            );
            assert_eq!(
                super::traces_url("http://c:4318/v1/traces"),
                "http://c:4318/v1/traces"
            );
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

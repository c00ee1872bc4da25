//! Unit tests of slow calls: the threshold, and the WARN event a slow call logs.

use super::*;

#[test]
fn slow_is_strictly_above_the_threshold() {
    let site = TimerSite::new("test.slow.boundary", 5);
    assert!(!site.is_slow(5_000_000));
    assert!(site.is_slow(5_000_001));
    assert!(!TimerSite::new("test.slow.off", 0).is_slow(u64::MAX));
    assert!(!TimerSite::new("test.slow.huge", u64::MAX).is_slow(u64::MAX));
}

/// An event's fields, as (name, value) text.
type Fields = Vec<(String, String)>;

/// A subscriber that keeps the fields of WARN events.
#[derive(Clone, Default)]
struct WarnCapture {
    events: Arc<Mutex<Vec<Fields>>>,
}

struct FieldVisitor<'a>(&'a mut Fields);

impl tracing::field::Visit for FieldVisitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl tracing::Subscriber for WarnCapture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() == tracing::Level::WARN {
            let mut fields = Vec::new();
            event.record(&mut FieldVisitor(&mut fields));
            self.events.lock().push(fields);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn slow_calls_are_counted_and_logged_only_above_the_threshold() {
    let _figures = FIGURES.read();
    static SITE: TimerSite = TimerSite::new("test.slow", 50);
    let capture = WarnCapture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        time_sync(&SITE, never_error, || ());
        let s = stats("test.slow");
        assert_eq!((s.count, s.slow_calls, s.slow_ms), (1, 0, Some(50.0)));
        assert!(
            capture.events.lock().is_empty(),
            "a fast call is not logged"
        );

        time_sync(&SITE, never_error, || {
            std::thread::sleep(Duration::from_millis(60));
        });
        let s = stats("test.slow");
        assert_eq!((s.count, s.slow_calls), (2, 1));
    });
    let events = capture.events.lock();
    assert_eq!(events.len(), 1, "{events:?}");
    let field = |name: &str| {
        events[0]
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no field {name} in {:?}", events[0]))
    };
    assert_eq!(field("message"), "slow call");
    assert_eq!(field("timer"), "test.slow");
    assert_eq!(field("threshold_ms"), "50");
    let elapsed: f64 = field("elapsed_ms").parse().expect("elapsed_ms is a number");
    assert!(elapsed >= 60.0, "{elapsed}");
}

//! Observability: each node's start and stop runs in a `tracing` span and reports its
//! duration; failures are logged with their cause chain.

mod support;

use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use roadie::prelude::*;
use support::{Failed, Log, A};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Records each event as `span{fields} > message fields`, the span being the innermost one.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else if field.name() == "elapsed_ms" {
            let _ = write!(self.0, " elapsed_ms");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_f64(&mut self, field: &Field, _: f64) {
        let _ = write!(self.0, " {}", field.name());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

struct SpanFields(String);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields(String::new());
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields.0));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let span = ctx
            .event_span(event)
            .map(|span| {
                let extensions = span.extensions();
                let own = extensions
                    .get::<SpanFields>()
                    .map(|f| f.0.as_str())
                    .unwrap_or("");
                format!("{}{{{}}}", span.name(), own.trim())
            })
            .unwrap_or_default();
        self.0.lock().unwrap().push(format!(
            "{span} > {} {}",
            event.metadata().level(),
            fields.0
        ));
    }
}

impl Capture {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn every_node_start_and_stop_is_a_span_with_its_duration() {
    let capture = Capture::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    let log = Log::new();
    let l = log.clone();
    let running = App::new()
        .on_startup(|| Ok::<_, Infallible>(7u8))
        .named("number")
        .lifespan(move |lifespan: Lifespan<A>| {
            let log = l.clone();
            async move {
                lifespan.ready(A(log.tracked("A"))).await;
                Ok::<_, Infallible>(())
            }
        })
        .named("a")
        .on_shutdown(|_: Res<u8>| {})
        .named("hook")
        .start()
        .await
        .unwrap();
    running.shutdown().await.unwrap();
    let lines = capture.lines();
    for expected in [
        "roadie.start{node=number kind=Provider} > DEBUG started elapsed_ms",
        "roadie.start{node=a kind=Lifespan} > DEBUG started elapsed_ms",
        "roadie.teardown{node=a} > DEBUG torn down elapsed_ms",
        "roadie.shutdown{node=hook} > DEBUG shutdown hook ran elapsed_ms",
        "roadie.drop{resource=A} > DEBUG resource dropped elapsed_ms",
        "roadie.drop{resource=u8} > DEBUG resource dropped elapsed_ms",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "no `{expected}` in {lines:#?}"
        );
    }
}

#[tokio::test]
async fn failures_are_logged_with_their_cause_chain() {
    let capture = Capture::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    let error = App::new()
        .on_startup(|| -> Result<u8, Failed> {
            Err(Failed::caused_by("could not connect", "refused"))
        })
        .named("database")
        .start()
        .await
        .unwrap_err();
    assert_eq!(error.failed_node(), Some("database"));
    let lines = capture.lines();
    let expected = "roadie.start{node=database kind=Provider} > ERROR failed to start elapsed_ms \
                    error=could not connect: refused";
    assert!(
        lines.iter().any(|l| l == expected),
        "no `{expected}` in {lines:#?}"
    );
    assert!(
        lines.iter().any(
            |l| l.contains("ERROR startup failed; what had started was torn down")
                && l.contains("`database` failed during startup: could not connect: refused")
        ),
        "{lines:#?}"
    );
}

//! `roadie::lambda::run` in a child process, against a fake Lambda Runtime API served here:
//! it answers Function URL events, and SIGTERM (which Lambda sends when an extension is
//! registered) stops it as the contract says: the invocation in flight posts its response,
//! then lifespans' teardown, then shutdown hooks, then `run` returns and the process exits 0.
//!
//! The child is this test binary itself, running the ignored test `lambda_child_main`. It
//! prints `lambda-child: ...` lines; the fake runtime API reports what the child posted. Both
//! go into one channel in the order they happened: the runtime API reports a post before it
//! answers it, so anything the child prints after that answer comes later.
#![cfg(all(feature = "lambda", unix))]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as AxumPath, State};
use axum::routing::{get, post};
use roadie::prelude::*;
use roadie::Uri;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, Mutex};

const CHILD_ENV: &str = "ROADIE_TEST_LAMBDA_CHILD";
const PREFIX: &str = "lambda-child: ";
/// The bound on every wait; generous, as builds share the machine. Never a timing assertion.
const WAIT: Duration = Duration::from_secs(60);

/// What the test sees, in the order it happened.
#[derive(Debug, PartialEq)]
enum Seen {
    /// A line the child printed (without the prefix).
    Line(String),
    /// A response the child posted for the invocation with this id.
    Response(String, serde_json::Value),
    /// Anything else the child sent to the runtime API (an error report): path and body.
    Other(String, String),
    /// The child's stdout closed.
    Eof,
}

#[derive(Clone)]
struct RuntimeApi {
    events: Arc<Mutex<mpsc::UnboundedReceiver<(String, serde_json::Value)>>>,
    seen: mpsc::UnboundedSender<Seen>,
}

/// `GET /2018-06-01/runtime/invocation/next`: the next event the test gave, when it gives
/// one; until then the request waits, as it does on Lambda between invocations.
async fn next_event(State(api): State<RuntimeApi>) -> axum::response::Response {
    let next = api.events.lock().await.recv().await;
    let Some((id, event)) = next else {
        return std::future::pending().await;
    };
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        + Duration::from_secs(900);
    axum::response::Response::builder()
        .header("content-type", "application/json")
        .header("lambda-runtime-aws-request-id", &id)
        .header(
            "lambda-runtime-deadline-ms",
            deadline.as_millis().to_string(),
        )
        .header(
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:roadie-test",
        )
        .header(
            "lambda-runtime-trace-id",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
        )
        .body(axum::body::Body::from(event.to_string()))
        .unwrap()
}

/// `POST /2018-06-01/runtime/invocation/{id}/response`: reported before it is answered.
async fn response(
    State(api): State<RuntimeApi>,
    AxumPath(id): AxumPath<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    let body = serde_json::from_slice(&body).unwrap_or_else(
        |error| json!({ "not json": error.to_string(), "body": String::from_utf8_lossy(&body) }),
    );
    let _ = api.seen.send(Seen::Response(id, body));
    StatusCode::ACCEPTED
}

/// Error reports (`/invocation/{id}/error`, `/init/error`) and anything else.
async fn other(State(api): State<RuntimeApi>, uri: Uri, body: String) -> StatusCode {
    let _ = api.seen.send(Seen::Other(uri.path().to_owned(), body));
    StatusCode::ACCEPTED
}

/// A fake Lambda Runtime API on loopback and a child process running `roadie::lambda::run`
/// against it; the child is killed if the test ends first.
struct Lambda {
    child: tokio::process::Child,
    events: mpsc::UnboundedSender<(String, serde_json::Value)>,
    seen: mpsc::UnboundedReceiver<Seen>,
    /// What the child wrote to stderr (a panic, say), for failure messages.
    stderr: Arc<std::sync::Mutex<String>>,
}

impl Lambda {
    async fn start() -> Self {
        let (events, events_rx) = mpsc::unbounded_channel();
        let (seen_tx, seen) = mpsc::unbounded_channel();
        let api = RuntimeApi {
            events: Arc::new(Mutex::new(events_rx)),
            seen: seen_tx.clone(),
        };
        let router = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_event))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .fallback(other)
            .with_state(api);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });

        let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "lambda_child_main",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, "1")
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "roadie-test")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/01/01/[$LATEST]0123456789abcdef",
            )
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/roadie-test")
            .env_remove("_X_AMZN_TRACE_ID")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stderr = Arc::new(std::sync::Mutex::new(String::new()));
        let mut errors = BufReader::new(child.stderr.take().unwrap()).lines();
        let written = Arc::clone(&stderr);
        tokio::spawn(async move {
            while let Ok(Some(line)) = errors.next_line().await {
                let mut written = written.lock().unwrap();
                written.push_str(&line);
                written.push('\n');
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                // The test harness may print its own text before ours on the same line.
                if let Some(at) = line.find(PREFIX) {
                    let _ = seen_tx.send(Seen::Line(line[at + PREFIX.len()..].to_owned()));
                }
            }
            let _ = seen_tx.send(Seen::Eof);
        });
        Self {
            child,
            events,
            seen,
            stderr,
        }
    }

    /// Gives the child an event, as its next invocation.
    fn invoke(&self, id: &str, event: serde_json::Value) {
        self.events.send((id.to_owned(), event)).unwrap();
    }

    /// The next thing seen, within the bound.
    async fn next(&mut self) -> Seen {
        match tokio::time::timeout(WAIT, self.seen.recv()).await {
            Ok(seen) => seen.expect("the channel stays open"),
            Err(_) => panic!("nothing happened within {WAIT:?}{}", self.stderr()),
        }
    }

    /// The next line the child prints; fails on anything else.
    async fn line(&mut self) -> String {
        match self.next().await {
            Seen::Line(line) => line,
            other => panic!(
                "expected a line from the child, got {other:?}{}",
                self.stderr()
            ),
        }
    }

    /// The next response the child posts; fails on anything else.
    async fn response(&mut self, id: &str) -> serde_json::Value {
        match self.next().await {
            Seen::Response(posted, body) if posted == id => body,
            other => panic!(
                "expected the response to {id}, got {other:?}{}",
                self.stderr()
            ),
        }
    }

    /// The child's stderr so far, for a failure message.
    fn stderr(&self) -> String {
        let stderr = self.stderr.lock().unwrap();
        if stderr.is_empty() {
            String::new()
        } else {
            format!("\nthe child's stderr:\n{stderr}")
        }
    }

    fn sigterm(&self) {
        let pid = self.child.id().expect("the child is running").to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
    }

    /// The stop after the drain: teardown, hook, `run` returns `Ok`, the process exits 0,
    /// and nothing else was posted.
    async fn stops_cleanly(mut self) {
        assert_eq!(self.line().await, "lifespan torn down");
        assert_eq!(self.line().await, "shutdown hook ran");
        assert_eq!(self.line().await, "run returned Ok(())");
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("the child did not exit within {WAIT:?}"))
            .unwrap();
        assert_eq!(
            status.code(),
            Some(0),
            "the child exits cleanly{}",
            self.stderr()
        );
        loop {
            match self.next().await {
                Seen::Eof => break,
                Seen::Line(_) => {}
                other => panic!("nothing more is posted, got {other:?}"),
            }
        }
    }
}

/// A Lambda function URL event (payload 2.0) for a GET of `path`.
fn url_event(path: &str, query: &str) -> serde_json::Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "cookies": ["session=s1"],
        "headers": {
            "host": "abc123.lambda-url.us-east-1.on.aws",
            "x-forwarded-proto": "https",
            "user-agent": "test"
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abc123",
            "domainName": "abc123.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc123",
            "http": {
                "method": "GET",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "test"
            },
            "requestId": "req",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000_u64
        },
        "isBase64Encoded": false
    })
}

/// The usual case on Lambda: SIGTERM arrives while the runtime waits for the next event.
#[tokio::test]
async fn sigterm_between_invocations_tears_down_runs_the_hooks_and_exits_0() {
    let mut lambda = Lambda::start().await;
    assert_eq!(lambda.line().await, "lifespan set up");

    lambda.invoke("inv-1", url_event("/hello/ada", "greeting=hi"));
    let posted = lambda.response("inv-1").await;
    assert_eq!(posted["statusCode"], 200, "{posted}");
    assert_eq!(posted["body"], "hi, ada (session=s1)", "{posted}");
    assert_eq!(posted["isBase64Encoded"], false, "{posted}");
    assert_eq!(posted["cookies"], json!(["seen=1"]), "{posted}");

    // Signals are listened for before the first event is asked for.
    lambda.sigterm();
    lambda.stops_cleanly().await;
}

/// SIGTERM during an invocation: the handler is told (its `Shutdown` resolves), finishes,
/// and its response is posted before the teardown runs.
#[tokio::test]
async fn sigterm_during_an_invocation_posts_its_response_before_the_teardown() {
    let mut lambda = Lambda::start().await;
    assert_eq!(lambda.line().await, "lifespan set up");

    lambda.invoke("inv-slow", url_event("/slow", ""));
    assert_eq!(lambda.line().await, "slow handler entered");
    lambda.sigterm();
    assert_eq!(lambda.line().await, "slow handler finished");
    let posted = lambda.response("inv-slow").await;
    assert_eq!(posted["statusCode"], 200, "{posted}");
    assert_eq!(posted["body"], "finished after the signal", "{posted}");
    lambda.stops_cleanly().await;
}

/// A second SIGTERM cuts an invocation that the grace period (a day) would still wait for:
/// nothing is posted for it, and the teardown and hooks still run.
#[tokio::test]
async fn a_second_sigterm_cuts_an_invocation_that_does_not_end() {
    let mut lambda = Lambda::start().await;
    assert_eq!(lambda.line().await, "lifespan set up");

    lambda.invoke("inv-never", url_event("/never", ""));
    assert_eq!(lambda.line().await, "never handler entered");
    lambda.sigterm();
    // The first signal was handled: the stop began.
    assert_eq!(lambda.line().await, "never handler asked to stop");
    lambda.sigterm();
    lambda.stops_cleanly().await;
}

/// A handler's `Shutdown::trigger` stops `run` too, after its own response is posted.
#[tokio::test]
async fn a_shutdown_triggered_by_a_handler_ends_run_after_its_response() {
    let mut lambda = Lambda::start().await;
    assert_eq!(lambda.line().await, "lifespan set up");

    lambda.invoke("inv-stop", url_event("/stop", ""));
    let posted = lambda.response("inv-stop").await;
    assert_eq!(posted["statusCode"], 200, "{posted}");
    assert_eq!(posted["body"], "stopping", "{posted}");
    lambda.stops_cleanly().await;
}

/// Prints a line for the parent test.
fn say(line: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{PREFIX}{line}").unwrap();
    stdout.flush().unwrap();
}

struct Greeting(String);

/// The child's app: a lifespan and a hook that say when they run, and one route per case.
fn child_app() -> App {
    App::new()
        .grace_period(Duration::from_secs(24 * 60 * 60))
        .lifespan(|lifespan: Lifespan<Greeting>| async move {
            say("lifespan set up");
            let _greeting = lifespan.ready(Greeting("hi".to_owned())).await;
            say("lifespan torn down");
            Ok::<_, Infallible>(())
        })
        .on_shutdown(|| say("shutdown hook ran"))
        .get(
            "/hello/{name}",
            |Path(name): Path<String>,
             Query(query): Query<std::collections::HashMap<String, String>>,
             headers: HeaderMap,
             greeting: Res<Greeting>| async move {
                let greeting = query.get("greeting").unwrap_or(&greeting.0);
                let cookie = headers
                    .get("cookie")
                    .and_then(|cookie| cookie.to_str().ok())
                    .unwrap_or("-");
                let body = format!("{greeting}, {name} ({cookie})");
                ([(roadie::header::SET_COOKIE, "seen=1")], body)
            },
        )
        .get("/slow", |shutdown: Shutdown| async move {
            say("slow handler entered");
            shutdown.requested().await;
            say("slow handler finished");
            "finished after the signal"
        })
        .get("/never", |shutdown: Shutdown| async move {
            say("never handler entered");
            shutdown.requested().await;
            say("never handler asked to stop");
            std::future::pending::<&str>().await
        })
        .get("/stop", |shutdown: Shutdown| async move {
            shutdown.trigger();
            "stopping"
        })
}

/// The child process of the tests above: a Lambda `main`. Ignored, so that it runs only when
/// one of them starts it.
#[test]
#[ignore = "run as a child process by the other tests in this file"]
fn lambda_child_main() {
    assert!(
        std::env::var_os(CHILD_ENV).is_some(),
        "this runs as the child process of another test; run those instead"
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let returned = runtime.block_on(roadie::lambda::run(child_app()));
    say(&format!("run returned {returned:?}"));
}

//! Server-sent events: the wire format, keep-alive comments, `Last-Event-ID`, and the end of
//! an open stream at shutdown (a final event, a clean end, what it held released before the
//! teardown), in-process and over a real socket.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use roadie::prelude::*;
use roadie::sse::{Event, LastEventId, Sse};
use roadie::{Error, Server, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

type Log = Arc<Mutex<Vec<String>>>;

fn record(log: &Log, what: &str) {
    log.lock().unwrap().push(what.to_owned());
}

/// Records its drop: what a stream or a socket task holds.
struct Held(Log);

impl Drop for Held {
    fn drop(&mut self) {
        record(&self.0, "stream dropped");
    }
}

/// A stream of one event, then nothing, forever, holding `held`.
fn endless(held: Held) -> impl futures_util::Stream<Item = Event> + Send + 'static {
    stream::iter([Event::new().id("1").data("first")])
        .chain(stream::pending())
        .map(move |event| {
            let _ = &held;
            event
        })
}

#[tokio::test]
async fn events_are_sent_in_the_event_stream_format() {
    let app = App::new().get("/events", || async {
        Sse::new(stream::iter([
            Event::new().event("greeting").id("1").data("hello\nworld"),
            Event::new().comment("just a comment"),
            Event::new().retry(Duration::from_millis(1500)).data("x"),
        ]))
    });
    let response = app.execute(Request::get("/events")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert_eq!(response.header("cache-control"), Some("no-cache"));
    assert_eq!(
        response.text(),
        "event: greeting\nid: 1\ndata: hello\ndata: world\n\n: just a comment\n\nretry: 1500\ndata: x\n\n"
    );
}

#[tokio::test]
async fn json_data_is_serialized() {
    let event = Event::new()
        .json_data(&serde_json::json!({ "n": 1 }))
        .unwrap();
    assert_eq!(event.to_string(), "data: {\"n\":1}\n\n");
}

#[tokio::test]
async fn last_event_id_is_read_from_the_header() {
    let app = App::new().get("/events", |LastEventId(last): LastEventId| async move {
        format!("{last:?}")
    });
    let first = app.execute(Request::get("/events")).await;
    assert_eq!(first.text(), "None");
    let again = app
        .execute(Request::get("/events").header("last-event-id", "41"))
        .await;
    assert_eq!(again.text(), "Some(\"41\")");
}

#[tokio::test(start_paused = true)]
async fn keep_alive_comments_fill_the_quiet() {
    let log = Log::default();
    let held = log.clone();
    let app = App::new().get("/events", move || {
        let held = Held(held.clone());
        async move { Sse::new(endless(held)).keep_alive(Duration::from_secs(10)) }
    });
    let running = app.start().await.unwrap();
    let answer = tokio::spawn(running.execute(Request::get("/events")));
    // The paused clock moves on by itself while everything waits.
    tokio::time::sleep(Duration::from_secs(25)).await;
    running.shutdown().await.unwrap();
    let response = answer.await.unwrap();
    assert_eq!(
        response.text(),
        "id: 1\ndata: first\n\n: keep-alive\n\n: keep-alive\n\n"
    );
}

#[tokio::test]
async fn an_endless_stream_under_execute_returns_once_the_app_shuts_down() {
    let log = Log::default();
    let (held, hook_log) = (log.clone(), log.clone());
    let app = App::new()
        .on_shutdown(move || {
            let log = hook_log.clone();
            async move { record(&log, "shutdown hook") }
        })
        .get("/events", move || {
            let held = Held(held.clone());
            async move {
                Sse::new(endless(held)).on_shutdown(Event::new().event("bye").data("reconnect"))
            }
        })
        .get(
            "/stop",
            |shutdown: Shutdown| async move { shutdown.trigger() },
        );
    let answer = tokio::spawn({
        let app = app.clone();
        async move { app.execute(Request::get("/events")).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !answer.is_finished(),
        "the stream is endless until shutdown"
    );
    app.execute(Request::get("/stop")).await;
    let response = tokio::time::timeout(Duration::from_secs(5), answer)
        .await
        .expect("execute returns once the app shuts down")
        .unwrap();
    assert_eq!(
        response.text(),
        "id: 1\ndata: first\n\nevent: bye\ndata: reconnect\n\n"
    );
    // Wait for the teardown that the trigger started.
    for _ in 0..100 {
        if log.lock().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*log.lock().unwrap(), ["stream dropped", "shutdown hook"]);
}

struct Bus(tokio::sync::broadcast::Sender<String>);

#[tokio::test]
async fn what_a_stream_holds_is_released_before_its_shutdown_hook() {
    let log = Log::default();
    let hook_log = log.clone();
    let app = App::new()
        .on_startup(|| Ok::<_, std::convert::Infallible>(Bus(tokio::sync::broadcast::channel(8).0)))
        .on_shutdown(move |bus: Res<Bus>| {
            let log = hook_log.clone();
            async move {
                record(
                    &log,
                    &format!("hook: {} subscribers", bus.0.receiver_count()),
                )
            }
        })
        .get("/events", |bus: Res<Bus>| async move {
            // The stream holds the resource and a subscription to it.
            let receiver = bus.0.subscribe();
            let events = stream::unfold((bus, receiver), |(bus, mut receiver)| async move {
                let message = receiver.recv().await.ok()?;
                Some((Event::new().data(message), (bus, receiver)))
            });
            Sse::new(events)
        });
    let running = app.start().await.unwrap();
    let answer = tokio::spawn(running.execute(Request::get("/events")));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let bus = running.resource::<Bus>().unwrap();
    assert_eq!(bus.0.receiver_count(), 1);
    bus.0.send("hi".to_owned()).unwrap();
    drop(bus);
    tokio::time::sleep(Duration::from_millis(20)).await;
    running.shutdown().await.unwrap();
    assert_eq!(answer.await.unwrap().text(), "data: hi\n\n");
    assert_eq!(*log.lock().unwrap(), ["hook: 0 subscribers"]);
}

async fn spawn(app: App) -> (SocketAddr, ServerHandle, JoinHandle<Result<(), Error>>) {
    let server: Server = app.bind("127.0.0.1:0").await.unwrap().with_signals(false);
    let addr = server.local_addr();
    let handle = server.handle();
    (addr, handle, tokio::spawn(server.run()))
}

/// Reads from `stream` until `text` has come, or the connection ends.
async fn read_until(stream: &mut TcpStream, seen: &mut Vec<u8>, text: &str) -> bool {
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(seen).contains(text) {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return false,
            Ok(Ok(n)) => seen.extend_from_slice(&buffer[..n]),
        }
    }
    true
}

#[tokio::test]
async fn over_a_socket_shutdown_sends_the_final_event_and_ends_the_body_cleanly() {
    let log = Log::default();
    let (held, hook_log) = (log.clone(), log.clone());
    let app = App::new()
        .drain_delay(Duration::ZERO)
        .grace_period(Duration::from_secs(5))
        .on_shutdown(move || {
            let log = hook_log.clone();
            async move { record(&log, "shutdown hook") }
        })
        .get("/events", move || {
            let held = Held(held.clone());
            async move {
                let ticks = stream::unfold(0u32, |n| async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Some((Event::new().id(n.to_string()).data("tick"), n + 1))
                })
                .map(move |event| {
                    let _ = &held;
                    event
                });
                Sse::new(ticks).on_shutdown(Event::new().event("bye").data("reconnect later"))
            }
        });
    let (addr, handle, serving) = spawn(app).await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    client
        .write_all(b"GET /events HTTP/1.1\r\nhost: test\r\naccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    assert!(read_until(&mut client, &mut seen, "data: tick\n\n").await);
    let head = String::from_utf8_lossy(&seen).into_owned();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");

    let began = Instant::now();
    handle.shutdown();
    assert!(
        read_until(&mut client, &mut seen, "\r\n0\r\n\r\n").await,
        "the chunked body ends cleanly: {}",
        String::from_utf8_lossy(&seen)
    );
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(
        text.contains("event: bye\ndata: reconnect later\n\n"),
        "{text}"
    );
    // Then the server closes the connection.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut rest)).await;
    assert!(
        matches!(closed, Ok(Ok(0))),
        "closed after the body: {closed:?}"
    );
    tokio::time::timeout(Duration::from_secs(5), serving)
        .await
        .expect("the server returns within the drain")
        .unwrap()
        .unwrap();
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(*log.lock().unwrap(), ["stream dropped", "shutdown hook"]);
}

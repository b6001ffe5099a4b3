//! A live feed and a chat room: `cargo run --example live`, then
//!
//! - `curl -N localhost:8080/events` follows the feed as server-sent events;
//! - a WebSocket client on `ws://localhost:8080/chat` (for example `websocat`) says things
//!   to the room, and hears what everyone says and the clock's ticks.
//!
//! Both are fed by one broadcast channel, a resource; a periodic background task (the clock,
//! `App::every`) publishes a tick into it. Ctrl-C (or SIGTERM) with clients connected stops it
//! cleanly: the clock, every feed and every chat socket are told at once; every feed gets a
//! last `bye` event and ends, every chat socket gets Close `1001` ("going away"), the clock
//! stops, and only then does the shutdown hook close the bus. `ADDR` overrides the address;
//! `TICK_MS` the clock's period (default 1000).

use std::process::ExitCode;
use std::time::Duration;

use futures_util::stream::{self, Stream};
use roadie::prelude::*;
use roadie::sse::{Event, LastEventId, Sse};
use roadie::ws::{CloseCode, CloseFrame, Message, WebSocketUpgrade};
use tokio::sync::broadcast;

/// The room: everything said, and the ticks, go to every listener.
struct Bus(broadcast::Sender<String>);

/// The room's bus.
fn bus() -> Result<Bus, std::convert::Infallible> {
    Ok(Bus(broadcast::channel(1024).0))
}

/// The clock: one tick into the room per period, while the app runs.
async fn tick(bus: Res<Bus>, count: Res<Ticks>) {
    let n = count.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let _ = bus.0.send(format!("tick {n}"));
}

/// How many ticks the clock has sent.
#[derive(Default)]
struct Ticks(std::sync::atomic::AtomicU64);

/// Runs after the clock, every feed and every socket have ended.
fn close_bus(ticks: Res<Ticks>) {
    let sent = ticks.0.load(std::sync::atomic::Ordering::Relaxed);
    println!("teardown: the clock stopped after {sent} ticks; the bus closes");
}

/// What the bus says, from now on, as a stream of messages.
fn listen(bus: &Bus) -> impl Stream<Item = String> + Send + 'static {
    stream::unfold(bus.0.subscribe(), |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(message) => return Some((message, receiver)),
                // A slow listener misses messages rather than holding the room back.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

/// The feed, as server-sent events.
async fn events(bus: Res<Bus>, LastEventId(last): LastEventId) -> Sse<impl Stream<Item = Event>> {
    if let Some(last) = last {
        println!("a feed resumes after event {last}");
    }
    let events = futures_util::StreamExt::map(listen(&bus), |message| Event::new().data(message));
    Sse::new(events)
        .keep_alive(Duration::from_secs(15))
        .on_shutdown(Event::new().event("bye").data("the server is going away"))
}

/// The chat room, on a WebSocket.
async fn chat(ws: WebSocketUpgrade, bus: Res<Bus>) -> Response {
    ws.on_upgrade(move |mut socket| async move {
        let heard = listen(&bus);
        tokio::pin!(heard);
        let stop = socket.shutdown_requested();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => {
                    // Say goodbye ourselves rather than wait for the grace period to end.
                    let away = CloseFrame { code: CloseCode::Away, reason: "the server is going away".into() };
                    let _ = socket.close(Some(away)).await;
                    while socket.recv().await.is_some() {}
                    return;
                }
                Some(message) = futures_util::StreamExt::next(&mut heard) => {
                    if socket.send(Message::text(message)).await.is_err() {
                        return;
                    }
                }
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Text(text))) => { let _ = bus.0.send(text.to_string()); }
                    Some(Ok(_)) => {}
                    _ => return,
                },
            }
        }
    })
}

/// The clock's period: `TICK_MS`, or a second.
fn tick_period() -> Duration {
    std::env::var("TICK_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(1), Duration::from_millis)
}

#[tokio::main]
async fn main() -> ExitCode {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let app = App::new()
        .readiness("/ready")
        .drain_delay(Duration::ZERO)
        .grace_period(Duration::from_secs(10))
        .on_startup(bus)
        .on_startup(|| Ok::<_, std::convert::Infallible>(Ticks::default()))
        .every(tick_period(), tick)
        .on_shutdown(close_bus)
        .get("/events", events)
        .get("/chat", chat);
    println!("serving on http://{addr}");
    match app.serve(addr).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

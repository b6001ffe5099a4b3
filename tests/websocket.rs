//! WebSockets: the handshake and its rejections, the in-process client, and the end of an
//! open socket at shutdown (told, then Close 1001 after the grace period, the teardown after
//! the socket's task), in-process and over a real socket.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use roadie::prelude::*;
use roadie::ws::{connect_in_process, CloseCode, Message, WebSocketError, WebSocketUpgrade};
use roadie::{Error, Server, ServerHandle};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

type Log = Arc<Mutex<Vec<String>>>;

fn record(log: &Log, what: &str) {
    log.lock().unwrap().push(what.to_owned());
}

/// Records its drop: what a socket task holds.
struct Held(Log);

impl Drop for Held {
    fn drop(&mut self) {
        record(&self.0, "socket task ended");
    }
}

fn echo() -> App {
    App::new().get("/echo", |ws: WebSocketUpgrade| async move {
        ws.on_upgrade(|mut socket| async move {
            while let Some(Ok(message)) = socket.recv().await {
                if message.is_close() || socket.send(message).await.is_err() {
                    break;
                }
            }
        })
    })
}

#[tokio::test]
async fn the_in_process_client_talks_to_a_route() {
    let running = echo().start().await.unwrap();
    let mut client = connect_in_process(&running, Request::get("/echo"))
        .await
        .unwrap();
    client.send(Message::text("hello")).await.unwrap();
    assert_eq!(
        client.recv().await.unwrap().unwrap(),
        Message::text("hello")
    );
    client.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(
        client.recv().await.unwrap().unwrap(),
        Message::binary(vec![1u8, 2, 3])
    );
    client.close(None).await.unwrap();
    while client.recv().await.is_some() {}
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bad_handshake_is_rejected_with_a_clear_error() {
    let app = echo();
    let plain = app.execute(Request::get("/echo")).await;
    assert_eq!(plain.status(), StatusCode::UPGRADE_REQUIRED);
    assert!(
        plain.text().contains("Upgrade: websocket"),
        "{}",
        plain.text()
    );

    let handshake = |version: &str, key: &str| {
        Request::get("/echo")
            .header("upgrade", "websocket")
            .header("connection", "keep-alive, Upgrade")
            .header("sec-websocket-version", version)
            .header("sec-websocket-key", key)
    };
    let version = app
        .execute(handshake("8", "dGhlIHNhbXBsZSBub25jZQ=="))
        .await;
    assert_eq!(version.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        version.json::<serde_json::Value>()["parameter"],
        "Sec-WebSocket-Version"
    );
    let key = app.execute(handshake("13", "short")).await;
    assert_eq!(key.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        key.json::<serde_json::Value>()["parameter"],
        "Sec-WebSocket-Key"
    );
    // A well-formed handshake that `execute` cannot upgrade says how to test it.
    let no_connection = app
        .execute(handshake("13", "dGhlIHNhbXBsZSBub25jZQ=="))
        .await;
    assert_eq!(no_connection.status(), StatusCode::UPGRADE_REQUIRED);
    assert!(no_connection.text().contains("connect_in_process"));

    let running = app.start().await.unwrap();
    let refused = connect_in_process(&running, Request::get("/nowhere")).await;
    assert!(
        matches!(refused, Err(WebSocketError::Refused { status, .. }) if status == StatusCode::NOT_FOUND),
        "{refused:?}"
    );
}

/// A chat route whose task ignores the shutdown signal; it holds `Held`.
fn stubborn(log: &Log) -> App {
    let (held, hook_log) = (log.clone(), log.clone());
    App::new()
        .drain_delay(Duration::ZERO)
        .grace_period(Duration::from_millis(300))
        .on_shutdown(move || {
            let log = hook_log.clone();
            async move { record(&log, "shutdown hook") }
        })
        .get("/chat", move |ws: WebSocketUpgrade| {
            let held = Held(held.clone());
            async move {
                ws.on_upgrade(move |mut socket| async move {
                    let _held = held;
                    socket.send(Message::text("welcome")).await.unwrap();
                    while let Some(Ok(_)) = socket.recv().await {}
                    // Never reached before shutdown: the client says nothing.
                })
            }
        })
}

#[tokio::test]
async fn in_process_a_socket_that_ignores_the_signal_is_closed_with_1001() {
    let log = Log::default();
    let running = stubborn(&log).start().await.unwrap();
    let mut client = connect_in_process(&running, Request::get("/chat"))
        .await
        .unwrap();
    assert_eq!(
        client.recv().await.unwrap().unwrap(),
        Message::text("welcome")
    );
    let stopping = tokio::spawn(running.shutdown());
    let close = client.recv().await.unwrap().unwrap();
    let Message::Close(Some(frame)) = close else {
        panic!("expected a close frame, got {close:?}");
    };
    assert_eq!(frame.code, CloseCode::Away);
    stopping.await.unwrap().unwrap();
    assert_eq!(*log.lock().unwrap(), ["socket task ended", "shutdown hook"]);
}

async fn spawn(app: App) -> (SocketAddr, ServerHandle, JoinHandle<Result<(), Error>>) {
    let server: Server = app.bind("127.0.0.1:0").await.unwrap().with_signals(false);
    let addr = server.local_addr();
    let handle = server.handle();
    (addr, handle, tokio::spawn(server.run()))
}

#[tokio::test]
async fn over_a_socket_shutdown_closes_with_1001_then_runs_the_teardown() {
    let log = Log::default();
    let (addr, handle, serving) = spawn(stubborn(&log)).await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut client, response) =
        tokio_tungstenite::client_async(format!("ws://{addr}/chat"), stream)
            .await
            .unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        Message::text("welcome")
    );

    let began = Instant::now();
    handle.shutdown();
    let close = tokio::time::timeout(Duration::from_secs(5), client.next())
        .await
        .expect("the server closes the socket")
        .unwrap()
        .unwrap();
    let Message::Close(Some(frame)) = close else {
        panic!("expected a close frame, got {close:?}");
    };
    assert_eq!(frame.code, CloseCode::Away);
    // The grace period passed first: the task was told, and ignored it.
    assert!(
        began.elapsed() >= Duration::from_millis(300),
        "{:?}",
        began.elapsed()
    );
    // The client answers the close (tungstenite does it on the next read).
    assert!(client.next().await.is_none());
    tokio::time::timeout(Duration::from_secs(5), serving)
        .await
        .expect("the server returns within the grace period and the close timeout")
        .unwrap()
        .unwrap();
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(*log.lock().unwrap(), ["socket task ended", "shutdown hook"]);
}

struct Room(tokio::sync::broadcast::Sender<String>);

#[tokio::test]
async fn a_task_that_listens_says_goodbye_and_its_resources_go_before_the_hook() {
    let log = Log::default();
    let hook_log = log.clone();
    let app = App::new()
        .drain_delay(Duration::ZERO)
        .grace_period(Duration::from_secs(10))
        .on_startup(|| Ok::<_, std::convert::Infallible>(Room(tokio::sync::broadcast::channel(8).0)))
        .on_shutdown(move |room: Res<Room>| {
            let log = hook_log.clone();
            async move { record(&log, &format!("hook: {} listeners", room.0.receiver_count())) }
        })
        .get("/chat", |ws: WebSocketUpgrade, room: Res<Room>| async move {
            ws.on_upgrade(move |mut socket| async move {
                let mut messages = room.0.subscribe();
                let stop = socket.shutdown_requested();
                tokio::pin!(stop);
                loop {
                    tokio::select! {
                        () = &mut stop => {
                            let _ = socket.send(Message::text("bye")).await;
                            let _ = socket.close(None).await;
                            while socket.recv().await.is_some() {}
                            return;
                        }
                        message = messages.recv() => match message {
                            Ok(text) => { let _ = socket.send(Message::text(text)).await; }
                            Err(_) => return,
                        },
                        incoming = socket.recv() => match incoming {
                            Some(Ok(Message::Text(text))) => { let _ = room.0.send(text.to_string()); }
                            Some(Ok(_)) => {}
                            _ => return,
                        },
                    }
                }
            })
        });
    let (addr, handle, serving) = spawn(app).await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut client, _) = tokio_tungstenite::client_async(format!("ws://{addr}/chat"), stream)
        .await
        .unwrap();
    client.send(Message::text("hi all")).await.unwrap();
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        Message::text("hi all")
    );

    let began = Instant::now();
    handle.shutdown();
    assert_eq!(client.next().await.unwrap().unwrap(), Message::text("bye"));
    assert!(matches!(
        client.next().await.unwrap().unwrap(),
        Message::Close(_)
    ));
    // Reading on sends the client's answer to the close.
    assert!(client.next().await.is_none());
    tokio::time::timeout(Duration::from_secs(5), serving)
        .await
        .expect("the server returns once the task ended")
        .unwrap()
        .unwrap();
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(*log.lock().unwrap(), ["hook: 0 listeners"]);
}

struct Session;

#[tokio::test]
async fn a_dep_moved_into_a_socket_task_is_released_before_the_teardown() {
    let log = Log::default();
    let (release_log, hook_log) = (log.clone(), log.clone());
    let app = App::new()
        .grace_period(Duration::from_millis(100))
        .dependency(move || {
            let log = release_log.clone();
            async move {
                Ok::<_, std::convert::Infallible>(Scoped::new(Session).on_release(
                    move |_session, outcome| async move {
                        // A slow release: the teardown waits for it.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        record(&log, &format!("session released {outcome:?}"));
                    },
                ))
            }
        })
        .on_shutdown(move || {
            let log = hook_log.clone();
            async move { record(&log, "shutdown hook") }
        })
        .get(
            "/chat",
            |ws: WebSocketUpgrade, session: Dep<Session>| async move {
                ws.on_upgrade(move |socket| async move {
                    let _session = session;
                    socket.shutdown_requested().await;
                })
            },
        );
    let running = app.start().await.unwrap();
    let mut client = connect_in_process(&running, Request::get("/chat"))
        .await
        .unwrap();
    let stopping = tokio::spawn(running.shutdown());
    while client.recv().await.is_some() {}
    stopping.await.unwrap().unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        ["session released Responded(101)", "shutdown hook"]
    );
}

#[tokio::test]
async fn a_message_past_the_size_limit_ends_the_socket() {
    let app = App::new().get("/echo", |ws: WebSocketUpgrade| async move {
        ws.max_message_size(16).on_upgrade(|mut socket| async move {
            while let Some(Ok(message)) = socket.recv().await {
                let _ = socket.send(message).await;
            }
        })
    });
    let running = app.start().await.unwrap();
    let mut client = connect_in_process(&running, Request::get("/echo"))
        .await
        .unwrap();
    client.send(Message::text("small")).await.unwrap();
    assert_eq!(
        client.recv().await.unwrap().unwrap(),
        Message::text("small")
    );
    client.send(Message::text("x".repeat(64))).await.unwrap();
    // No echo: the socket is closed instead.
    let next = client.recv().await;
    assert!(
        matches!(next, None | Some(Ok(Message::Close(_)))),
        "{next:?}"
    );
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_task_that_panics_closes_its_socket_with_1011() {
    let app = App::new().get("/boom", |ws: WebSocketUpgrade| async move {
        ws.on_upgrade(|_socket| async move { panic!("the task failed") })
    });
    let running = app.start().await.unwrap();
    let mut client = connect_in_process(&running, Request::get("/boom"))
        .await
        .unwrap();
    let close = client.recv().await.unwrap().unwrap();
    let Message::Close(Some(frame)) = close else {
        panic!("expected a close frame, got {close:?}");
    };
    assert_eq!(frame.code, CloseCode::Error);
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_upgraded_socket_keeps_its_place_under_the_connection_cap() {
    let app = echo().max_connections(1).drain_delay(Duration::ZERO);
    let app = app.get("/hello", || async { "hello" });
    let (addr, handle, serving) = spawn(app).await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut socket, _) = tokio_tungstenite::client_async(format!("ws://{addr}/echo"), stream)
        .await
        .unwrap();
    socket.send(Message::text("ping")).await.unwrap();
    assert_eq!(socket.next().await.unwrap().unwrap(), Message::text("ping"));

    // The socket holds the only place: a second connection waits in the backlog.
    let asking = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut other = TcpStream::connect(addr).await.unwrap();
        other
            .write_all(b"GET /hello HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        other.read_to_string(&mut answer).await.unwrap();
        answer
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !asking.is_finished(),
        "answered while the socket held the only place"
    );
    socket.close(None).await.unwrap();
    while socket.next().await.is_some() {}
    let answer = tokio::time::timeout(Duration::from_secs(5), asking)
        .await
        .expect("answered once the socket closed")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    handle.shutdown();
    serving.await.unwrap().unwrap();
}

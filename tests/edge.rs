//! The production edge over real sockets on 127.0.0.1: the drain drops nothing, slow clients
//! pin nothing (stalled bodies, slow readers, many connections), bodies are bounded, and the
//! wire rules of HTTP/1.1 hold.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roadie::prelude::*;
use roadie::{Bytes, Error, Server, ServerHandle};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

/// Binds `app` on port 0 with signals off, and runs it in a task.
async fn spawn(app: App) -> (SocketAddr, ServerHandle, JoinHandle<Result<(), Error>>) {
    let server: Server = app.bind("127.0.0.1:0").await.unwrap().with_signals(false);
    let addr = server.local_addr();
    let handle = server.handle();
    (addr, handle, tokio::spawn(server.run()))
}

/// One response read off a keep-alive connection: its status, its headers (lowercase names)
/// and its body, read by `Content-Length`.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn read_answer(reader: &mut BufReader<TcpStream>) -> Option<Answer> {
    let mut line = String::new();
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let status = line.split(' ').nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.ok()?;
    Some(Answer {
        status,
        headers,
        body,
    })
}

async fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    BufReader::new(TcpStream::connect(addr).await.unwrap())
}

async fn send(connection: &mut BufReader<TcpStream>, raw: &str) {
    connection
        .get_mut()
        .write_all(raw.as_bytes())
        .await
        .unwrap();
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")
}

/// A handler that signals when it starts and waits to be released.
fn gate() -> (Arc<Notify>, Arc<Notify>) {
    (Arc::new(Notify::new()), Arc::new(Notify::new()))
}

#[tokio::test]
async fn the_drain_keeps_serving_not_ready_with_connection_close_then_stops_accepting() {
    let (addr, handle, serving) = spawn(
        App::new()
            .readiness("/ready")
            .drain_delay(Duration::from_millis(800))
            .get("/hello", || async { "hello" }),
    )
    .await;
    // A keep-alive client, served before the drain.
    let mut client = connect(addr).await;
    send(&mut client, &get("/hello")).await;
    let before = read_answer(&mut client).await.unwrap();
    assert_eq!(before.status, 200);
    assert_eq!(
        before.header("connection"),
        None,
        "kept alive before the drain"
    );

    handle.shutdown();
    // During the delay: readiness is 503 on a new connection (not refused), and requests are
    // still served, each told to close its connection.
    let mut probe = connect(addr).await;
    let mut ready = None;
    for _ in 0..100 {
        send(&mut probe, &get("/ready")).await;
        let answer = read_answer(&mut probe).await.unwrap();
        if answer.status == 503 {
            ready = Some(answer);
            break;
        }
        probe = connect(addr).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ready = ready.expect("readiness turned 503");
    assert_eq!(ready.body, br#"{"state":"draining"}"#);
    send(&mut client, &get("/hello")).await;
    let during = read_answer(&mut client)
        .await
        .expect("answered during the drain");
    assert_eq!(during.status, 200);
    assert_eq!(during.body, b"hello");
    assert_eq!(during.header("connection"), Some("close"));

    let mut fresh = connect(addr).await;
    send(&mut fresh, &get("/hello")).await;
    assert_eq!(
        read_answer(&mut fresh).await.unwrap().status,
        200,
        "still accepting"
    );

    serving.await.unwrap().unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "stopped accepting");
}

#[tokio::test]
async fn a_request_sent_just_before_the_stop_is_answered() {
    let (entered, release) = gate();
    let app = App::new().drain_delay(Duration::ZERO).get("/slow", {
        let (entered, release) = (entered.clone(), release.clone());
        move || {
            let (entered, release) = (entered.clone(), release.clone());
            async move {
                entered.notify_one();
                release.notified().await;
                "done"
            }
        }
    });
    let (addr, handle, serving) = spawn(app).await;
    let mut client = connect(addr).await;
    send(&mut client, &get("/slow")).await;
    entered.notified().await;
    handle.shutdown();
    tokio::time::sleep(Duration::from_millis(50)).await;
    release.notify_one();
    let answer = read_answer(&mut client).await.expect("a response, not EOF");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, b"done");
    serving.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_stalled_body_is_cut_with_408_and_the_server_keeps_serving() {
    let (addr, handle, serving) = spawn(
        App::new()
            .drain_delay(Duration::ZERO)
            .body_read_timeout(Duration::from_secs(5))
            .post("/echo", |body: Bytes| async move { body }),
    )
    .await;
    let mut stalled = connect(addr).await;
    send(
        &mut stalled,
        "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nonly ten b",
    )
    .await;
    let answer = read_answer(&mut stalled).await.expect("a 408, not silence");
    assert_eq!(answer.status, 408);
    assert_eq!(answer.header("connection"), Some("close"));
    let text = String::from_utf8(answer.body).unwrap();
    assert!(text.contains("stalled"), "{text}");
    // And the connection is closed.
    let mut rest = Vec::new();
    stalled.read_to_end(&mut rest).await.unwrap();

    let mut normal = connect(addr).await;
    send(
        &mut normal,
        "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await;
    let answer = read_answer(&mut normal).await.unwrap();
    assert_eq!(
        (answer.status, answer.body.as_slice()),
        (200, &b"hello"[..])
    );
    handle.shutdown();
    serving.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn bodies_in_flight_share_a_memory_bound() {
    let (entered, release) = gate();
    let app = App::new()
        .drain_delay(Duration::ZERO)
        .body_memory_limit(1_000)
        .body_read_timeout(Duration::from_secs(5))
        .post("/hold", {
            let (entered, release) = (entered.clone(), release.clone());
            move |body: Bytes| {
                let (entered, release) = (entered.clone(), release.clone());
                async move {
                    entered.notify_one();
                    release.notified().await;
                    body.len().to_string()
                }
            }
        })
        .post("/echo", |body: Bytes| async move { body.len().to_string() });
    let (addr, handle, serving) = spawn(app).await;
    let post = |path: &str, size: usize| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {size}\r\n\r\n{}",
            "x".repeat(size)
        )
    };
    // One request holds 900 of the 1,000 bytes while its handler runs.
    let mut holder = connect(addr).await;
    send(&mut holder, &post("/hold", 900)).await;
    entered.notified().await;
    // Another body of 200 bytes finds no room, and is cut once the wait passes the timeout.
    let mut waiting = connect(addr).await;
    send(&mut waiting, &post("/echo", 200)).await;
    assert_eq!(read_answer(&mut waiting).await.unwrap().status, 408);
    // Once the first request ends, its bytes are free again.
    release.notify_one();
    assert_eq!(read_answer(&mut holder).await.unwrap().body, b"900");
    let mut after = connect(addr).await;
    send(&mut after, &post("/echo", 200)).await;
    assert_eq!(read_answer(&mut after).await.unwrap().body, b"200");
    handle.shutdown();
    serving.await.unwrap().unwrap();
}

// Real time, not the paused clock: what matters is that bytes keep leaving the server's
// socket as the client reads, which the paused clock cannot model (it jumps ahead whenever the
// runtime waits on the kernel). The body is far larger than the kernel's socket buffers.
#[tokio::test]
async fn a_slow_reader_is_not_cut_by_the_header_read_timeout() {
    const SIZE: usize = 16 * 1024 * 1024;
    let (addr, handle, serving) = spawn(
        App::new()
            .drain_delay(Duration::ZERO)
            .header_read_timeout(Duration::from_millis(200))
            .get("/big", || async { vec![b'x'; SIZE] }),
    )
    .await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    client
        .write_all(b"GET /big HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut received = 0;
    let mut buffer = vec![0; 64 * 1024];
    let started = std::time::Instant::now();
    loop {
        // Slower than the client could read: the whole read takes several header timeouts.
        tokio::time::sleep(Duration::from_millis(4)).await;
        match client.read(&mut buffer).await.unwrap() {
            0 => break,
            n => received += n,
        }
    }
    assert!(
        started.elapsed() > Duration::from_millis(800),
        "the read took {:?}",
        started.elapsed()
    );
    assert!(
        received > SIZE,
        "received {received} bytes of {SIZE} and the headers"
    );
    handle.shutdown();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_connection_cap_holds_and_the_next_client_waits_in_the_backlog() {
    let (addr, handle, serving) = spawn(
        App::new()
            .drain_delay(Duration::ZERO)
            .max_connections(1)
            .get("/hello", || async { "hello" }),
    )
    .await;
    let mut first = connect(addr).await;
    send(&mut first, &get("/hello")).await;
    assert_eq!(read_answer(&mut first).await.unwrap().status, 200);
    // The first connection stays open: the second is not served meanwhile.
    let mut second = connect(addr).await;
    send(&mut second, &get("/hello")).await;
    let waited = tokio::time::timeout(Duration::from_millis(300), read_answer(&mut second)).await;
    assert!(waited.is_err(), "served past the cap");
    // Once the first closes, the second is accepted and served.
    drop(first);
    let answer = tokio::time::timeout(Duration::from_secs(10), read_answer(&mut second))
        .await
        .expect("served once a connection closed")
        .unwrap();
    assert_eq!(answer.status, 200);
    drop(second);
    handle.shutdown();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn http11_needs_exactly_one_host_and_chunked_at_most_once() {
    let (addr, handle, serving) = spawn(
        App::new()
            .drain_delay(Duration::ZERO)
            .get("/hello", || async { "hello" })
            .post("/echo", |body: Bytes| async move { body }),
    )
    .await;
    let cases = [
        ("GET /hello HTTP/1.1\r\n\r\n", 400, "must have a `Host`"),
        (
            "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            400,
            "exactly one `Host`",
        ),
        (
            "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            400,
            "more than once",
        ),
        ("GET /hello HTTP/1.0\r\n\r\n", 200, "hello"),
        ("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n", 200, "hello"),
    ];
    for (raw, status, text) in cases {
        let mut client = connect(addr).await;
        send(&mut client, raw).await;
        let answer = read_answer(&mut client).await.unwrap();
        let body = String::from_utf8(answer.body).unwrap();
        assert_eq!(answer.status, status, "{raw:?}: {body}");
        assert!(body.contains(text), "{raw:?}: {body}");
    }
    handle.shutdown();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_second_stop_ends_the_drain_delay_at_once() {
    let log = Arc::new(Mutex::new(Vec::<&str>::new()));
    let (addr, handle, serving) = spawn(
        App::new()
            .drain_delay(Duration::from_secs(3600))
            .on_shutdown({
                let log = log.clone();
                move || log.lock().unwrap().push("hook")
            })
            .get("/hello", || async { "hello" }),
    )
    .await;
    let mut client = connect(addr).await;
    send(&mut client, &get("/hello")).await;
    assert_eq!(read_answer(&mut client).await.unwrap().status, 200);
    drop(client);
    handle.shutdown();
    tokio::time::sleep(Duration::from_millis(50)).await;
    handle.shutdown_now();
    let (done_tx, done_rx) = oneshot::channel();
    tokio::spawn(async move {
        let _ = done_tx.send(serving.await);
    });
    tokio::time::timeout(Duration::from_secs(10), done_rx)
        .await
        .expect("a second stop does not wait out the delay")
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(*log.lock().unwrap(), ["hook"]);
}

#[tokio::test]
async fn a_streaming_body_is_sent_as_it_comes_and_collected_by_execute() {
    let (next_tx, next_rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let next_rx = Arc::new(Mutex::new(Some(next_rx)));
    let app = App::new()
        .drain_delay(Duration::ZERO)
        .get("/events", move || {
            let chunks = next_rx.lock().unwrap().take().expect("one request");
            async move {
                let stream = futures_util::stream::unfold(chunks, |mut chunks| async move {
                    let chunk = chunks.recv().await?;
                    Some((Ok::<_, std::convert::Infallible>(chunk), chunks))
                });
                Response::stream(stream)
            }
        })
        .get("/count", || async {
            let chunks = (1..=3).map(|n| Ok::<_, std::convert::Infallible>(format!("{n};")));
            Response::stream(futures_util::stream::iter(chunks))
        });

    // In-process, the stream is collected: tests see the whole body.
    let collected = app.execute(Request::get("/count")).await;
    assert_eq!(collected.text(), "1;2;3;");
    assert!(!collected.is_streaming());
    assert!(app.execute(Request::head("/count")).await.body().is_empty());
    app.shutdown().await.unwrap();

    // Over a socket, the first chunk arrives while the stream is still open.
    let (addr, handle, serving) = spawn(app).await;
    let mut client = connect(addr).await;
    send(&mut client, &get("/events")).await;
    next_tx.send("first chunk").unwrap();
    let mut seen = String::new();
    while !seen.contains("first chunk") {
        let mut line = String::new();
        assert!(
            client.read_line(&mut line).await.unwrap() > 0,
            "closed early"
        );
        seen.push_str(&line);
    }
    assert!(
        seen.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{seen}"
    );
    next_tx.send("second").unwrap();
    drop(next_tx);
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let mut line = String::new();
            if client.read_line(&mut line).await.unwrap_or(0) == 0 || line == "0\r\n" {
                break;
            }
            rest.push(line);
        }
    })
    .await;
    assert!(rest.iter().any(|line| line.contains("second")), "{rest:?}");
    handle.shutdown();
    serving.await.unwrap().unwrap();
}

/// Reads HTTP/2 frames until one of `kind` arrives; returns it, or `None` at EOF.
async fn next_frame_of(stream: &mut TcpStream, kind: u8) -> Option<(u8, Vec<u8>)> {
    loop {
        let mut header = [0_u8; 9];
        stream.read_exact(&mut header).await.ok()?;
        let length =
            usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
        let mut payload = vec![0; length];
        stream.read_exact(&mut payload).await.ok()?;
        if header[3] == kind {
            return Some((header[4], payload));
        }
    }
}

#[tokio::test]
async fn an_http2_connection_gets_goaway_when_the_drain_begins() {
    const DATA: u8 = 0x0;
    const GOAWAY: u8 = 0x7;
    let (addr, handle, serving) = spawn(
        App::new()
            .drain_delay(Duration::from_secs(2))
            .get("/", || async { "ok" }),
    )
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The preface, an empty SETTINGS frame, and `GET /` on stream 1 (HPACK: `:method GET`,
    // `:path /`, `:scheme http` from the static table, and `:authority a` as a literal).
    let mut hello =
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00".to_vec();
    let block = [0x82, 0x84, 0x86, 0x41, 0x01, b'a'];
    hello.extend_from_slice(&[
        0x00,
        0x00,
        block.len() as u8,
        0x01,
        0x05,
        0x00,
        0x00,
        0x00,
        0x01,
    ]);
    hello.extend_from_slice(&block);
    stream.write_all(&hello).await.unwrap();
    let (flags, body) = next_frame_of(&mut stream, DATA).await.expect("the answer");
    assert_eq!(body, b"ok");
    assert_eq!(flags & 0x1, 0x1, "the stream ended");

    let began = std::time::Instant::now();
    handle.shutdown();
    let goaway = tokio::time::timeout(Duration::from_secs(10), next_frame_of(&mut stream, GOAWAY))
        .await
        .expect("GOAWAY, not silence");
    assert!(goaway.is_some(), "GOAWAY before the connection closed");
    assert!(
        began.elapsed() < Duration::from_millis(1500),
        "GOAWAY came when the drain began, not after its delay ({:?})",
        began.elapsed()
    );
    drop(stream);
    serving.await.unwrap().unwrap();
}

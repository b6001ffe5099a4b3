//! The server over real sockets on 127.0.0.1, port 0: drain, failed starts, bad input on
//! the wire, limits, the grace period, signals, serving twice in one process.

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roadie::prelude::*;
use roadie::{Bytes, Error, Server, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

type Log = Arc<Mutex<Vec<String>>>;

fn push(log: &Log, event: impl Into<String>) {
    log.lock().unwrap().push(event.into());
}

fn events(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

/// Binds `app` on port 0 with signals off, and runs it in a task.
async fn spawn(app: App) -> (SocketAddr, ServerHandle, JoinHandle<Result<(), Error>>) {
    let server: Server = app.bind("127.0.0.1:0").await.unwrap().with_signals(false);
    let addr = server.local_addr();
    let handle = server.handle();
    (addr, handle, tokio::spawn(server.run()))
}

/// Sends raw bytes on a new connection and reads everything until the server closes it.
async fn exchange(addr: SocketAddr, raw: impl AsRef<[u8]>) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw.as_ref()).await.unwrap();
    read_all(&mut stream).await
}

async fn read_all(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    // A reset counts as a closed connection: keep what arrived before it.
    let _ = stream.read_to_end(&mut received).await;
    String::from_utf8_lossy(&received).into_owned()
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").into_bytes()
}

fn status(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}

/// Waits until connecting to `addr` is refused: the server stopped accepting.
async fn until_refused(addr: SocketAddr) {
    while TcpStream::connect(addr).await.is_ok() {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_request_in_flight_finishes_before_the_shutdown_hooks_run() {
    let log: Log = Arc::default();
    let (entered_tx, entered_rx) = oneshot::channel::<()>();
    let entered = Arc::new(Mutex::new(Some(entered_tx)));
    let release = Arc::new(Notify::new());
    let app = App::new()
        .on_shutdown({
            let log = log.clone();
            move || {
                push(&log, "shutdown hook");
            }
        })
        .get("/slow", {
            let log = log.clone();
            let release = release.clone();
            move || {
                let log = log.clone();
                let release = release.clone();
                let entered = entered.lock().unwrap().take();
                async move {
                    push(&log, "request started");
                    if let Some(entered) = entered {
                        let _ = entered.send(());
                    }
                    release.notified().await;
                    push(&log, "request finished");
                    "done"
                }
            }
        });
    let (addr, handle, serving) = spawn(app).await;

    let client = tokio::spawn(exchange(addr, get("/slow")));
    entered_rx.await.unwrap();
    handle.shutdown();
    until_refused(addr).await;
    assert_eq!(events(&log), ["request started"], "nothing ran early");
    release.notify_one();

    let response = client.await.unwrap();
    assert_eq!(status(&response), 200);
    assert!(response.ends_with("done"), "{response}");
    serving.await.unwrap().unwrap();
    assert_eq!(
        events(&log),
        ["request started", "request finished", "shutdown hook"]
    );
}

#[tokio::test]
async fn a_failed_start_is_never_served() {
    let served = Arc::new(AtomicBool::new(false));
    let app = App::new()
        .on_startup(|| Err::<u8, _>(std::io::Error::other("no database")))
        .named("database")
        .get("/", {
            let served = served.clone();
            move || {
                served.store(true, Ordering::SeqCst);
                async { "served" }
            }
        });
    let server = app.bind("127.0.0.1:0").await.unwrap().with_signals(false);
    let addr = server.local_addr();
    // Connected before the start: it waits in the backlog, and must never be answered.
    let mut early = TcpStream::connect(addr).await.unwrap();
    early.write_all(&get("/")).await.unwrap();

    let error = server.run().await.unwrap_err();
    let Error::Startup(startup) = &error else {
        panic!("expected a startup error, got {error}");
    };
    assert_eq!(startup.failed_node(), Some("database"));
    assert!(error.to_string().contains("no database"), "{error}");

    assert_eq!(read_all(&mut early).await, "", "nothing answers");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the port is closed"
    );
    assert!(!served.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_port_in_use_fails_before_any_provider_runs() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let app = App::new().on_startup({
        let ran = ran.clone();
        move || {
            ran.store(true, Ordering::SeqCst);
            Ok::<_, Infallible>(1_u8)
        }
    });

    let error = app.serve(addr).await.unwrap_err();
    assert!(matches!(error, Error::Io { .. }), "{error:?}");
    assert!(
        error.to_string().contains("could not bind"),
        "the error says what failed: {error}"
    );
    assert!(!ran.load(Ordering::SeqCst), "no provider ran");
}

#[tokio::test]
async fn bad_input_on_the_wire_costs_that_connection_only() {
    let handled = Arc::new(AtomicUsize::new(0));
    let app = App::new().get("/", || async { "ok" }).post("/echo", {
        let handled = handled.clone();
        move |body: Bytes| {
            handled.fetch_add(1, Ordering::SeqCst);
            async move { body }
        }
    });
    let (addr, handle, serving) = spawn(app).await;

    let garbage = exchange(addr, b"\x00\x01GARBAGE not http\r\n\r\n").await;
    assert!(garbage.is_empty() || status(&garbage) == 400, "{garbage:?}");
    assert_eq!(status(&exchange(addr, get("/")).await), 200);

    let mut huge = b"GET / HTTP/1.1\r\nHost: test\r\nX-Huge: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    huge.extend(b"\r\n\r\n");
    let oversized = exchange(addr, huge).await;
    assert!(
        oversized.is_empty() || [400, 431].contains(&status(&oversized)),
        "{oversized:?}"
    );
    assert_eq!(status(&exchange(addr, get("/")).await), 200);

    // A client that promises 1000 bytes, sends 10 and leaves.
    let mut gone = TcpStream::connect(addr).await.unwrap();
    gone.write_all(b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n0123456789")
        .await
        .unwrap();
    drop(gone);
    assert_eq!(status(&exchange(addr, get("/")).await), 200);

    let echoed = exchange(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .await;
    assert_eq!(status(&echoed), 200);
    assert!(echoed.ends_with("hello"), "{echoed}");
    assert_eq!(
        handled.load(Ordering::SeqCst),
        1,
        "only the whole body reached the handler"
    );

    handle.shutdown();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413() {
    let handled = Arc::new(AtomicUsize::new(0));
    let app = App::new().body_limit(16).post("/echo", {
        let handled = handled.clone();
        move |body: Bytes| {
            handled.fetch_add(1, Ordering::SeqCst);
            async move { body }
        }
    });
    let (addr, handle, serving) = spawn(app).await;

    // Declared too large: refused from the headers.
    let declared = exchange(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 17\r\n\r\n01234567890123456",
    )
    .await;
    assert_eq!(status(&declared), 413, "{declared}");
    assert!(declared.contains("limit of 16 bytes"), "{declared}");

    // Chunked, no length: refused once the limit is passed.
    let chunked = exchange(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n\
          a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(status(&chunked), 413, "{chunked}");

    let fits = exchange(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 16\r\nConnection: close\r\n\r\n0123456789012345",
    )
    .await;
    assert_eq!(status(&fits), 200, "{fits}");
    assert_eq!(handled.load(Ordering::SeqCst), 1);

    handle.shutdown();
    serving.await.unwrap().unwrap();
}

/// An app whose `/never` request never ends, holding a request-scoped dependency that logs
/// how it was released.
fn never_ending(log: &Log, grace: Duration) -> (App, oneshot::Receiver<()>) {
    let (entered_tx, entered_rx) = oneshot::channel::<()>();
    let entered = Arc::new(Mutex::new(Some(entered_tx)));
    let app = App::new()
        .grace_period(grace)
        .dependency({
            let log = log.clone();
            move || {
                let log = log.clone();
                Scoped::new(7_u32).on_release(move |_, outcome| async move {
                    // A release that takes its time, as giving a connection back does.
                    for _ in 0..100 {
                        tokio::task::yield_now().await;
                    }
                    push(&log, format!("released: {outcome:?}"));
                })
            }
        })
        .on_shutdown({
            let log = log.clone();
            move || push(&log, "shutdown hook")
        })
        .get("/never", move |_held: Dep<u32>| {
            let entered = entered.lock().unwrap().take();
            async move {
                if let Some(entered) = entered {
                    let _ = entered.send(());
                }
                std::future::pending::<()>().await;
            }
        });
    (app, entered_rx)
}

#[tokio::test]
async fn the_grace_period_cuts_a_request_that_never_ends() {
    let log: Log = Arc::default();
    let (app, entered) = never_ending(&log, Duration::from_millis(50));
    let (addr, handle, serving) = spawn(app).await;

    let client = tokio::spawn(exchange(addr, get("/never")));
    entered.await.unwrap();
    handle.shutdown();

    serving.await.unwrap().unwrap();
    assert_eq!(
        client.await.unwrap(),
        "",
        "the cut request gets no response"
    );
    assert_eq!(
        events(&log),
        ["released: Cancelled", "shutdown hook"],
        "the cut request's scope is released before the hooks run"
    );
}

#[tokio::test]
async fn shutting_down_again_skips_the_rest_of_the_grace_period() {
    let log: Log = Arc::default();
    // A grace period no test would wait out.
    let (app, entered) = never_ending(&log, Duration::from_secs(24 * 60 * 60));
    let (addr, handle, serving) = spawn(app).await;

    let client = tokio::spawn(exchange(addr, get("/never")));
    entered.await.unwrap();
    handle.shutdown();
    until_refused(addr).await;
    handle.shutdown_now();

    serving.await.unwrap().unwrap();
    assert_eq!(client.await.unwrap(), "");
    assert_eq!(events(&log), ["released: Cancelled", "shutdown hook"]);
}

#[tokio::test]
async fn serve_runs_twice_in_one_process_and_a_handler_can_stop_it() {
    for round in 1..=2 {
        let log: Log = Arc::default();
        let app = App::new()
            .readiness("/ready")
            .on_shutdown({
                let log = log.clone();
                move || push(&log, "shutdown hook")
            })
            .get("/", || async { "ok" })
            .post("/stop", |shutdown: Shutdown| async move {
                shutdown.trigger();
                StatusCode::ACCEPTED
            });
        // Signals on: each run installs its listeners and drops them when it returns.
        let server = app.bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr();
        let serving = tokio::spawn(server.run());

        assert_eq!(
            status(&exchange(addr, get("/")).await),
            200,
            "round {round}"
        );
        assert_eq!(status(&exchange(addr, get("/ready")).await), 200);
        let stop = exchange(
            addr,
            b"POST /stop HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(status(&stop), 202, "{stop}");
        serving.await.unwrap().unwrap();
        assert_eq!(events(&log), ["shutdown hook"], "round {round}");
    }
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let app = App::new().get("/", || async { "ok" });
    let (addr, handle, serving) = spawn(app).await;

    let mut stream = TcpStream::connect(addr).await.unwrap();
    for _ in 0..3 {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        let mut buffer = [0_u8; 1024];
        let read = stream.read(&mut buffer).await.unwrap();
        let response = String::from_utf8_lossy(&buffer[..read]);
        assert_eq!(status(&response), 200, "{response}");
        assert!(response.ends_with("ok"), "{response}");
    }

    handle.shutdown();
    serving.await.unwrap().unwrap();
    // The idle keep-alive connection is closed by the graceful shutdown.
    assert_eq!(read_all(&mut stream).await, "");
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_never_sends_its_headers_is_closed() {
    let app = App::new()
        .header_read_timeout(Duration::from_secs(5))
        .get("/", || async { "ok" });
    let (addr, handle, serving) = spawn(app).await;

    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: te").await.unwrap();
    // The paused clock jumps to the header timeout once everything is idle.
    let response = tokio::time::timeout(Duration::from_secs(60), read_all(&mut slow))
        .await
        .expect("the connection is closed within the header read timeout");
    assert!(
        response.is_empty() || status(&response) == 408,
        "{response:?}"
    );

    handle.shutdown();
    serving.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_read_timeout() {
    let app = App::new()
        .header_read_timeout(Duration::from_secs(5))
        .get("/", || async { "ok" });
    let (addr, handle, serving) = spawn(app).await;

    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = [0; 1024];
    let read = stream.read(&mut buffer).await.unwrap();
    assert_eq!(status(&String::from_utf8_lossy(&buffer[..read])), 200);
    // Then nothing: the next head never comes, and the connection is closed.
    let closed = tokio::time::timeout(Duration::from_secs(60), read_all(&mut stream)).await;
    assert_eq!(closed.as_deref(), Ok(""));

    handle.shutdown();
    serving.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_slow_handler_is_not_cut_by_the_header_read_timeout() {
    let app = App::new()
        .header_read_timeout(Duration::from_secs(5))
        .get("/slow", || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            "done"
        });
    let (addr, handle, serving) = spawn(app).await;

    let response = exchange(addr, get("/slow")).await;
    assert_eq!(status(&response), 200, "{response:?}");
    assert!(response.ends_with("done"), "{response:?}");

    handle.shutdown();
    serving.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_header_read_timeout_is_the_apps() {
    let app = App::new()
        .header_read_timeout(Duration::from_secs(60 * 60))
        .get("/", || async { "ok" });
    let (addr, handle, serving) = spawn(app).await;

    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: te").await.unwrap();
    // Well past hyper's own default of 30 s, well within the app's hour.
    tokio::time::sleep(Duration::from_secs(120)).await;
    slow.write_all(b"st\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let response = read_all(&mut slow).await;
    assert_eq!(status(&response), 200, "{response:?}");

    handle.shutdown();
    serving.await.unwrap().unwrap();
}

/// SIGTERM to a child process running a server ends it with exit code 0, after its shutdown
/// hook ran; the process serves, and listens for signals, again and again; and a second
/// SIGTERM cuts a request the grace period would still wait for.
#[cfg(unix)]
#[test]
fn sigterm_ends_a_serving_process_after_its_shutdown_hooks() {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "child_server_main",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut child = KillOnDrop(child);
    let mut lines = BufReader::new(stdout).lines();
    let mut next_line_starting = |prefix: &str| loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the child ended before printing `{prefix}`"))
            .unwrap();
        // The test harness may print its own text before ours on the same line.
        if let Some(at) = line.find(prefix) {
            return line[at + prefix.len()..].trim().to_owned();
        }
    };

    let pid = child.0.id().to_string();
    let sigterm = || {
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
    };

    for round in 1..=2 {
        let addr: SocketAddr = next_line_starting("listening on").parse().unwrap();
        // A served request proves the signal listeners are installed.
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(&get("/")).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert_eq!(status(&response), 200, "round {round}: {response}");

        sigterm();
        assert_eq!(next_line_starting("shutdown hook ran"), round.to_string());
        assert_eq!(next_line_starting("serve returned"), "Ok(())");
    }

    // Round 3: a request that never ends, a grace period of a day; the second SIGTERM cuts it.
    let addr: SocketAddr = next_line_starting("listening on").parse().unwrap();
    let mut never = std::net::TcpStream::connect(addr).unwrap();
    never.write_all(&get("/never")).unwrap();
    next_line_starting("request entered");
    sigterm();
    // The first signal was handled once the server stops accepting.
    while std::net::TcpStream::connect(addr).is_ok() {
        std::thread::yield_now();
    }
    sigterm();
    assert_eq!(next_line_starting("shutdown hook ran"), "3");
    assert_eq!(next_line_starting("serve returned"), "Ok(())");
    let mut cut = String::new();
    let _ = never.read_to_string(&mut cut);
    assert_eq!(cut, "", "the request was cut");

    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "the child exits cleanly");
}

/// Kills the child if the test fails before it has exited, so no server is left behind.
#[cfg(unix)]
struct KillOnDrop(std::process::Child);

#[cfg(unix)]
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

const CHILD_ENV: &str = "ROADIE_TEST_CHILD_SERVER";

/// The child process of `sigterm_ends_a_serving_process_after_its_shutdown_hooks`: a server
/// `main`. Ignored, so that it runs only when that test starts it.
#[test]
#[ignore = "run as a child process by `sigterm_ends_a_serving_process_after_its_shutdown_hooks`"]
fn child_server_main() {
    assert!(
        std::env::var_os(CHILD_ENV).is_some(),
        "this runs as the child process of another test; run that one instead"
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for round in 1..=3 {
        let served = runtime.block_on(async move {
            let server = App::new()
                .grace_period(Duration::from_secs(24 * 60 * 60))
                .get("/", || async { "ok" })
                .get("/never", || async {
                    println!("request entered");
                    std::io::stdout().flush().unwrap();
                    std::future::pending::<()>().await;
                })
                .on_shutdown(move || {
                    println!("shutdown hook ran {round}");
                })
                .bind("127.0.0.1:0")
                .await?;
            println!("listening on {}", server.local_addr());
            server.await
        });
        println!("serve returned {served:?}");
        std::io::stdout().flush().unwrap();
        assert!(served.is_ok());
    }
}

#[tokio::test]
async fn the_server_speaks_http2_with_prior_knowledge() {
    let app = App::new().get("/", || async { "ok" });
    let (addr, handle, serving) = spawn(app).await;

    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The HTTP/2 connection preface, then an empty SETTINGS frame.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let mut header = [0_u8; 9];
    stream.read_exact(&mut header).await.unwrap();
    assert_eq!(
        header[3], 0x4,
        "the server answers with an HTTP/2 SETTINGS frame"
    );
    drop(stream);

    handle.shutdown();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn readiness_answers_503_while_the_app_stops() {
    let (entered_tx, entered_rx) = oneshot::channel::<()>();
    let entered = Arc::new(Mutex::new(Some(entered_tx)));
    let release = Arc::new(Notify::new());
    let running = App::new()
        .readiness("/ready")
        .get("/slow", {
            let release = release.clone();
            move || {
                let release = release.clone();
                let entered = entered.lock().unwrap().take();
                async move {
                    if let Some(entered) = entered {
                        let _ = entered.send(());
                    }
                    release.notified().await;
                    "done"
                }
            }
        })
        .start()
        .await
        .unwrap();
    assert_eq!(running.execute(Request::get("/ready")).await.status(), 200);
    assert_eq!(
        running.execute(Request::get("/ready")).await.text(),
        r#"{"state":"running"}"#
    );

    let slow = tokio::spawn(running.execute(Request::get("/slow")));
    entered_rx.await.unwrap();
    running.trigger_shutdown();
    while running.state() == roadie::LifecycleState::Running {
        tokio::task::yield_now().await;
    }
    let ready = running.execute(Request::get("/ready")).await;
    assert_eq!(ready.status(), 503, "not ready while stopping");
    assert_eq!(ready.text(), r#"{"state":"stopping"}"#);
    assert_eq!(
        running.execute(Request::get("/slow")).await.status(),
        503,
        "new requests are refused while stopping"
    );

    release.notify_one();
    assert_eq!(slow.await.unwrap().text(), "done");
    running.shutdown().await.unwrap();
    assert_eq!(running.execute(Request::get("/ready")).await.status(), 503);
}

#[tokio::test]
async fn a_route_on_the_readiness_path_is_a_validation_error() {
    let app = App::new()
        .readiness("/ready")
        .get("/ready", || async { "mine" });
    let error = app.validate().unwrap_err();
    let text = error.to_string();
    assert!(text.contains("GET /ready"), "{text}");
    assert!(text.contains("readiness path"), "{text}");
    assert!(app.start().await.is_err(), "and it does not start");
}

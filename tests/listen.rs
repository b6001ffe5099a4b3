//! Where the server's socket comes from: inherited through `LISTEN_FDS` (socket activation,
//! `roadie-dev`), or given explicitly with `bind_listener` and `serve_listener`; and
//! `READY=1` on `NOTIFY_SOCKET` once the app has started.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use roadie::prelude::*;
use roadie::Error;

fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// A process given a listening socket as fd 3 with `LISTEN_FDS=1` (and no `LISTEN_PID`, as
/// `roadie-dev` and systemfd pass it) serves that socket, not the address given to `bind`:
/// here the very address of the socket, which it could not bind again. It tells
/// `NOTIFY_SOCKET` it is ready, and a request sent to the socket before then is answered.
#[cfg(unix)]
#[test]
fn a_process_serves_the_socket_it_inherits() {
    use command_fds::{CommandFdExt, FdMapping};
    use std::os::unix::net::UnixDatagram;

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let notify_path =
        std::env::temp_dir().join(format!("roadie-listen-test-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&notify_path);
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();

    // Sent before the child exists: it waits in the socket's backlog, never refused.
    let early = std::thread::spawn(move || get(addr, "/"));

    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "child_serves_inherited",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, addr.to_string())
        .env("LISTEN_FDS", "1")
        .env_remove("LISTEN_PID")
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(std::process::Stdio::piped())
        .fd_mappings(vec![FdMapping {
            parent_fd: listener.try_clone().unwrap().into(),
            child_fd: 3,
        }])
        .unwrap();
    let child = command.spawn().unwrap();
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();

    let mut message = [0; 64];
    let length = notify.recv(&mut message).unwrap();
    assert_eq!(&message[..length], b"READY=1\n");

    let response = get(addr, "/");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.ends_with("from the inherited socket"),
        "{response}"
    );
    let early = early.join().unwrap();
    assert!(early.starts_with("HTTP/1.1 200"), "{early}");

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let lines: Vec<String> = BufReader::new(stdout).lines().map(Result::unwrap).collect();
    let served = lines
        .iter()
        .find_map(|line| line.split("serve returned ").nth(1));
    assert_eq!(served, Some("Ok(())"), "{lines:?}");
    let listening = lines
        .iter()
        .find_map(|line| line.split("listening on ").nth(1));
    assert_eq!(listening, Some(addr.to_string().as_str()), "{lines:?}");
    assert!(child.0.wait().unwrap().success());
    let _ = std::fs::remove_file(&notify_path);
}

/// Kills the child if the test fails before it has exited.
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

const CHILD_ENV: &str = "ROADIE_TEST_INHERITED_ADDR";

/// The child process of `a_process_serves_the_socket_it_inherits`. Ignored, so that it runs
/// only when that test starts it.
#[test]
#[ignore = "run as a child process by `a_process_serves_the_socket_it_inherits`"]
fn child_serves_inherited() {
    let addr = std::env::var(CHILD_ENV)
        .expect("this runs as the child process of another test; run that one instead");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let served = runtime.block_on(async move {
        let server = App::new()
            .drain_delay(Duration::ZERO)
            .get("/", || async { "from the inherited socket" })
            // The socket's own address: binding it again would fail, the port is taken.
            .bind(addr.as_str())
            .await?;
        println!("listening on {}", server.local_addr());
        std::io::stdout().flush().unwrap();
        server.await
    });
    println!("serve returned {served:?}");
    std::io::stdout().flush().unwrap();
}

/// `serve_listener` serves a listener made by the caller.
#[tokio::test]
async fn serve_listener_serves_the_listener_given() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let app = App::new()
        .drain_delay(Duration::ZERO)
        .get("/", || async { "given" })
        .get("/stop", |shutdown: Shutdown| async move {
            shutdown.trigger();
            "stopping"
        });
    let serving = tokio::spawn(app.serve_listener(listener));
    let response = tokio::task::spawn_blocking(move || get(addr, "/"))
        .await
        .unwrap();
    assert!(response.ends_with("given"), "{response}");
    tokio::task::spawn_blocking(move || get(addr, "/stop"))
        .await
        .unwrap();
    serving.await.unwrap().unwrap();
}

/// `bind_listener` keeps the listener's address, and a server bound so runs like any other.
#[tokio::test]
async fn bind_listener_keeps_the_listeners_address() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = App::new()
        .get("/", || async { "bound" })
        .bind_listener(listener)
        .await
        .unwrap()
        .with_signals(false);
    assert_eq!(server.local_addr(), addr);
    let handle = server.handle();
    let serving = tokio::spawn(server.run());
    let response = tokio::task::spawn_blocking(move || get(addr, "/"))
        .await
        .unwrap();
    assert!(response.ends_with("bound"), "{response}");
    handle.shutdown_now();
    serving.await.unwrap().unwrap();
}

/// A socket that is bound but not listening is refused before any provider runs, with an
/// error that says so.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
#[tokio::test]
async fn a_socket_that_does_not_listen_is_an_error() {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    let listener: TcpListener = socket.into();
    let error = App::new()
        .on_startup(|| -> Result<(), std::convert::Infallible> { panic!("no provider runs") })
        .bind_listener(listener)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Io { .. }), "{error:?}");
    assert!(error.to_string().contains("is not listening"), "{error}");
    assert!(error.to_string().contains("call `listen`"), "{error}");
}

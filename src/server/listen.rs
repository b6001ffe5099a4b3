//! Where the server's socket comes from, and who is told when it serves.
//!
//! A socket is bound to the address given to [`App::bind`](crate::App::bind), inherited from
//! the process that started this one (the `LISTEN_FDS` protocol of systemd's socket
//! activation, also spoken by `systemfd` and `roadie-dev`), or given explicitly to
//! [`App::bind_listener`](crate::App::bind_listener). Once the app has started, the server
//! tells its supervisor so (`READY=1` on `NOTIFY_SOCKET`, systemd's `Type=notify`).

use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::net::TcpListener;

use crate::error::Error;

/// Takes the listening socket passed as file descriptor 3 by the `LISTEN_FDS` protocol, if this
/// process was given one.
///
/// `listenfd` reads `LISTEN_FDS` (and `LISTEN_PID`, when set, must be this process) and then
/// removes both from the environment, so the socket is taken once per process: a second
/// server binds its address as usual.
pub(super) fn inherited() -> Result<Option<std::net::TcpListener>, Error> {
    // One taker at a time: two servers binding at once must not both read the variables.
    static TAKING: Mutex<()> = Mutex::new(());
    let _taking = TAKING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() > 1 {
        tracing::warn!(
            count = fds.len(),
            "LISTEN_FDS passed several sockets: the first one is served, the others are left alone"
        );
    }
    fds.take_tcp_listener(0).map_err(|error| {
        Error::io(
            "LISTEN_FDS passed a file descriptor 3 that is not a TCP listening socket; pass a TCP \
             socket (systemd: `ListenStream=` in the .socket unit) or unset LISTEN_FDS",
            error,
        )
    })
}

/// Makes a tokio listener of a listening `std` one: checks it listens, sets it non-blocking.
///
/// `origin` names where it came from, for the error.
pub(super) fn adopt(listener: std::net::TcpListener, origin: &str) -> Result<TcpListener, Error> {
    if !is_listening(&listener)
        .map_err(|error| Error::io(format!("could not inspect {origin}"), error))?
    {
        return Err(Error::io(
            format!(
                "{origin} is not listening: call `listen` on it first (`std::net::TcpListener::bind` \
                 does), or pass a socket that listens"
            ),
            io::Error::new(io::ErrorKind::InvalidInput, "socket not listening"),
        ));
    }
    listener
        .set_nonblocking(true)
        .map_err(|error| Error::io(format!("could not make {origin} non-blocking"), error))?;
    TcpListener::from_std(listener)
        .map_err(|error| Error::io(format!("could not register {origin} with tokio"), error))
}

/// Whether `listen(2)` was called on the socket (`SO_ACCEPTCONN`), where the system says.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn is_listening(listener: &std::net::TcpListener) -> io::Result<bool> {
    socket2::SockRef::from(listener).is_listener()
}

/// Elsewhere the check is left to the first `accept`, which fails on a socket that does not
/// listen.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn is_listening(_listener: &std::net::TcpListener) -> io::Result<bool> {
    Ok(true)
}

/// Logs that the inherited socket is served, and which address given to `bind` is not.
pub(super) async fn log_inherited(local_addr: SocketAddr, given: impl tokio::net::ToSocketAddrs) {
    let ignored = match tokio::net::lookup_host(given).await {
        Ok(addrs) => addrs
            .map(|addr| addr.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        Err(_) => "the address given".to_owned(),
    };
    tracing::info!(
        address = %local_addr,
        ignored = %ignored,
        "serving the socket inherited through LISTEN_FDS; the address given to bind is not used"
    );
}

/// Tells the supervisor that the app has started and the server is about to accept:
/// `READY=1` on the datagram socket named by `NOTIFY_SOCKET` (systemd's `sd_notify`
/// protocol), when there is one. A path that starts with `@` is in Linux's abstract
/// namespace. Failing to tell is logged and changes nothing else.
pub(super) fn notify_ready() {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(error) = send_notification(&target, b"READY=1\n") {
        tracing::warn!(
            socket = ?target,
            %error,
            "could not tell NOTIFY_SOCKET that the app is ready"
        );
    }
}

#[cfg(unix)]
fn send_notification(target: &std::ffi::OsStr, message: &[u8]) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::UnixDatagram;

    let socket = UnixDatagram::unbound()?;
    match target.as_bytes() {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        [b'@', name @ ..] => {
            #[cfg(target_os = "android")]
            use std::os::android::net::SocketAddrExt;
            #[cfg(target_os = "linux")]
            use std::os::linux::net::SocketAddrExt;
            let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(message, &address)?;
        }
        _ => {
            socket.send_to(message, std::path::Path::new(target))?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn send_notification(_target: &std::ffi::OsStr, _message: &[u8]) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "NOTIFY_SOCKET is a Unix socket",
    ))
}

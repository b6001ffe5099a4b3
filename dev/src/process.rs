//! The app's processes: the [`Launcher`] the runner calls, and [`Apps`], the real one, which
//! starts each process on the one listening socket.

use std::ffi::OsString;
use std::io;
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use command_fds::{CommandFdExt, FdMapping};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Starts a process of the app; tests give it a fake.
pub(crate) trait Launcher {
    /// A started process.
    type Process: Process;

    /// Starts `program` (just built) on the runner's socket.
    fn launch(&mut self, program: &Path) -> io::Result<Self::Process>;
}

/// A started process of the app, as the runner sees it.
pub(crate) trait Process {
    /// Its process id, for the reload lines.
    fn id(&self) -> u32;

    /// Waits at most `wait` for it to become ready.
    fn poll_ready(&mut self, wait: Duration) -> Readiness;

    /// Asks it to stop gracefully: SIGTERM, then it drains and runs its teardown.
    fn terminate(&mut self);

    /// Stops it at once (SIGKILL), for one that never became ready.
    fn kill(&mut self);

    /// Its exit status (as text) if it has ended, without waiting.
    fn try_wait(&mut self) -> Option<String>;
}

/// What [`Process::poll_ready`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// It serves.
    Ready,
    /// Not yet.
    Pending,
    /// It ended before it was ready (a failed start), with this status.
    Exited(String),
}

/// How a new process is known to be ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadyWhen {
    /// When it sends `READY=1` on its `NOTIFY_SOCKET`, as roadie does once the app has
    /// started (the moment its readiness route turns `200`).
    Notified,
    /// When it is still running after this long: for a program that does not notify.
    After(Duration),
}

/// Starts the app's processes, each with the listening socket as fd 3.
#[derive(Debug)]
pub(crate) struct Apps {
    listener: TcpListener,
    args: Vec<OsString>,
    ready: ReadyWhen,
    started: u64,
}

impl Apps {
    pub(crate) fn new(listener: TcpListener, args: Vec<OsString>, ready: ReadyWhen) -> Self {
        Self {
            listener,
            args,
            ready,
            started: 0,
        }
    }
}

impl Launcher for Apps {
    type Process = App;

    fn launch(&mut self, program: &Path) -> io::Result<App> {
        self.started += 1;
        let notify_path = std::env::temp_dir().join(format!(
            "roadie-dev-{}-{}.sock",
            std::process::id(),
            self.started
        ));
        let _ = std::fs::remove_file(&notify_path);
        let notify = UnixDatagram::bind(&notify_path)?;
        let notify = Notify {
            socket: notify,
            path: notify_path,
        };
        let socket: OwnedFd = self.listener.try_clone()?.into();
        let mut command = Command::new(program);
        command
            .args(&self.args)
            // The `LISTEN_FDS` protocol, without `LISTEN_PID`: setting it to the child's own
            // id needs code between fork and exec. `listenfd` (which roadie uses) and
            // systemfd accept its absence; systemd's own `sd_listen_fds` does not.
            .env("LISTEN_FDS", "1")
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .env("NOTIFY_SOCKET", &notify.path)
            .env("ROADIE_DEV_GENERATION", self.started.to_string())
            // Its own process group: Ctrl-C in the terminal reaches the runner only, which
            // then stops the app with SIGTERM and waits for its teardown.
            .process_group(0)
            .fd_mappings(vec![FdMapping {
                parent_fd: socket,
                child_fd: 3,
            }])
            .map_err(io::Error::other)?;
        let child = command.spawn()?;
        Ok(App {
            child,
            notify,
            ready: self.ready,
            started: Instant::now(),
            exited: None,
        })
    }
}

/// The datagram socket a process tells its readiness on; removed with it.
#[derive(Debug)]
struct Notify {
    socket: UnixDatagram,
    path: PathBuf,
}

impl Drop for Notify {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One process of the app.
#[derive(Debug)]
pub(crate) struct App {
    child: Child,
    notify: Notify,
    ready: ReadyWhen,
    started: Instant,
    exited: Option<String>,
}

impl App {
    fn signal(&mut self, signal: Signal) {
        if self.try_wait().is_some() {
            return;
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }
}

impl Process for App {
    fn id(&self) -> u32 {
        self.child.id()
    }

    fn poll_ready(&mut self, wait: Duration) -> Readiness {
        if let Some(status) = self.try_wait() {
            return Readiness::Exited(status);
        }
        let wait = wait.max(Duration::from_millis(1));
        match self.ready {
            ReadyWhen::After(delay) => {
                std::thread::sleep(wait.min(delay.saturating_sub(self.started.elapsed())));
                if self.started.elapsed() < delay {
                    return Readiness::Pending;
                }
            }
            ReadyWhen::Notified => {
                let _ = self.notify.socket.set_read_timeout(Some(wait));
                let mut message = [0; 512];
                let Ok(length) = self.notify.socket.recv(&mut message) else {
                    return Readiness::Pending;
                };
                let message = String::from_utf8_lossy(&message[..length]);
                if !message.lines().any(|line| line == "READY=1") {
                    return Readiness::Pending;
                }
            }
        }
        match self.try_wait() {
            Some(status) => Readiness::Exited(status),
            None => Readiness::Ready,
        }
    }

    fn terminate(&mut self) {
        self.signal(Signal::SIGTERM);
    }

    fn kill(&mut self) {
        self.signal(Signal::SIGKILL);
        let _ = self.child.wait();
    }

    fn try_wait(&mut self) -> Option<String> {
        if self.exited.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = Some(status.to_string());
            }
        }
        self.exited.clone()
    }
}

impl Drop for App {
    /// A process still running when the runner lets go of it (a panic) is not left behind.
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The runner's socket: the one a supervisor passed it (`LISTEN_FDS`, e.g. systemfd), or
/// `addr`, bound once for as long as the runner runs.
pub(crate) fn listen(addr: &str) -> Result<TcpListener, crate::DevError> {
    let inherited = listenfd::ListenFd::from_env()
        .take_tcp_listener(0)
        .map_err(crate::DevError::Inherited)?;
    match inherited {
        Some(listener) => Ok(listener),
        None => TcpListener::bind(addr).map_err(|source| crate::DevError::Bind {
            addr: addr.to_owned(),
            source,
        }),
    }
}

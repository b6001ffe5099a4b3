//! `roadie-dev`: the development loop for roadie apps.
//!
//! ```sh
//! cargo run -p roadie-dev -- --example todo
//! ```
//!
//! It binds the address once (`--addr`, default `127.0.0.1:3000`) and keeps the socket for as
//! long as it runs. It builds the program with cargo and starts it on that socket (fd 3,
//! `LISTEN_FDS=1`), then watches the sources. On a change it builds again while the old
//! process keeps serving; a failed build leaves the old process serving and shows the
//! compiler's errors; a good build starts the new process on the same socket, and once it has
//! said it is ready (`READY=1` on `NOTIFY_SOCKET`, which roadie sends when the app has
//! started), the old one gets SIGTERM and drains. Both accept from the one socket meanwhile,
//! and the socket stays open throughout, so no connection is refused. Ctrl-C stops the app
//! (SIGTERM, its drain and teardown), then the runner. The guide's development chapter has the
//! details.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::channel;

mod args;
mod build;
mod process;
mod runner;
mod watch;

use runner::{Event, Runner, Timing};

/// Why the runner could not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DevError {
    /// The command line was wrong.
    #[error("{0}\n\n{usage}", usage = args::USAGE)]
    Usage(String),
    /// The address could not be bound.
    #[error("could not listen on {addr}: {source}; stop what uses it or pick another with --addr")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// `LISTEN_FDS` passed something other than a TCP listening socket.
    #[error("LISTEN_FDS passed a file descriptor that is not a TCP listening socket ({0}); unset LISTEN_FDS")]
    Inherited(#[source] std::io::Error),
    /// The socket's address could not be read.
    #[error("could not read the listening socket's address: {0}")]
    Address(#[source] std::io::Error),
    /// Ctrl-C could not be handled.
    #[error("could not handle Ctrl-C and SIGTERM: {0}")]
    Signals(#[from] ctrlc::Error),
    /// The sources could not be watched.
    #[error("could not watch {}: {source}", path.display())]
    Watch {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },
}

fn main() -> ExitCode {
    match args::parse(std::env::args_os().skip(1)) {
        Ok(None) => {
            print!("{}", args::USAGE);
            ExitCode::SUCCESS
        }
        Ok(Some(options)) => match run(options) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("roadie-dev: {error}");
                ExitCode::FAILURE
            }
        },
        Err(error) => {
            eprintln!("roadie-dev: {error}");
            ExitCode::from(2)
        }
    }
}

fn run(options: args::Options) -> Result<(), DevError> {
    let listener = process::listen(&options.addr)?;
    let addr = listener.local_addr().map_err(DevError::Address)?;
    let (sender, events) = channel();
    let stop = sender.clone();
    ctrlc::set_handler(move || {
        let _ = stop.send(Event::Stop);
    })?;
    let _watcher = watch::watch(&options.watch, sender)?;
    println!(
        "roadie-dev: listening on http://{addr}; building {}, watching {}",
        options.target.name(),
        options
            .watch
            .iter()
            .map(|path| path.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let builder = build::Cargo::new(options.target, options.cargo_args);
    let launcher = process::Apps::new(listener, options.program_args, options.ready);
    let timing = Timing {
        ready_timeout: options.ready_timeout,
        stop_timeout: options.stop_timeout,
        tick: std::time::Duration::from_millis(50),
    };
    Runner::new(builder, launcher, timing, |report| println!("{report}")).run(&events);
    Ok(())
}

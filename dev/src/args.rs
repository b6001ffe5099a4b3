//! The command line.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::build::Target;
use crate::process::ReadyWhen;
use crate::DevError;

pub(crate) const USAGE: &str = "\
roadie-dev: runs a program with reload on change, swapping processes on one socket.

usage: cargo run -p roadie-dev -- (--example NAME | --bin NAME) [options] [-- program arguments]

options:
  --addr ADDR            the address to listen on, kept for the whole run (127.0.0.1:3000)
  --watch PATH           a path to watch, repeatable (default: src, examples, Cargo.toml)
  --ready-timeout SECS   how long a new process may take to become ready (30)
  --ready-delay MS       for a program that does not send READY=1 on NOTIFY_SOCKET (roadie
                         does): ready when still running after MS milliseconds
  --stop-timeout SECS    how long the processes may take to stop at Ctrl-C (40)
  --release, --profile P, --features F, --all-features, --no-default-features,
  -p/--package P, --target-dir DIR, --locked, --offline
                         passed to cargo build
";

/// What the command line asked for.
#[derive(Debug, PartialEq)]
pub(crate) struct Options {
    pub(crate) target: Target,
    pub(crate) cargo_args: Vec<OsString>,
    pub(crate) addr: String,
    pub(crate) watch: Vec<PathBuf>,
    pub(crate) ready: ReadyWhen,
    pub(crate) ready_timeout: Duration,
    pub(crate) stop_timeout: Duration,
    pub(crate) program_args: Vec<OsString>,
}

/// The command line, or `None` for `--help`.
pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Option<Options>, DevError> {
    let mut args = args.into_iter();
    let mut target = None;
    let mut cargo_args = Vec::new();
    let mut addr = "127.0.0.1:3000".to_owned();
    let mut watch = Vec::new();
    let mut ready = ReadyWhen::Notified;
    let mut ready_timeout = Duration::from_secs(30);
    let mut stop_timeout = Duration::from_secs(40);
    let mut program_args = Vec::new();
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|arg| DevError::Usage(format!("{arg:?} is not UTF-8")))?;
        let mut value = |name: &str| {
            args.next()
                .and_then(|value| value.into_string().ok())
                .ok_or_else(|| DevError::Usage(format!("{name} needs a value")))
        };
        let number = |name: &str, text: String| {
            text.parse::<u64>()
                .map_err(|_| DevError::Usage(format!("{name} takes a whole number, not {text:?}")))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--example" => target = Some(Target::Example(value(&arg)?)),
            "--bin" => target = Some(Target::Bin(value(&arg)?)),
            "--addr" => addr = value(&arg)?,
            "--watch" => watch.push(PathBuf::from(value(&arg)?)),
            "--ready-timeout" => {
                ready_timeout = Duration::from_secs(number(&arg, value(&arg)?)?);
            }
            "--ready-delay" => {
                ready = ReadyWhen::After(Duration::from_millis(number(&arg, value(&arg)?)?));
            }
            "--stop-timeout" => stop_timeout = Duration::from_secs(number(&arg, value(&arg)?)?),
            "--release" | "--all-features" | "--no-default-features" | "--locked" | "--offline" => {
                cargo_args.push(arg.into())
            }
            "--profile" | "--features" | "-F" | "-p" | "--package" | "--target-dir" => {
                let given = value(&arg)?;
                cargo_args.push(arg.into());
                cargo_args.push(given.into());
            }
            "--" => {
                program_args.extend(args.by_ref());
            }
            other => {
                return Err(DevError::Usage(format!("unknown option {other:?}")));
            }
        }
    }
    let target = target.ok_or_else(|| {
        DevError::Usage("name the program to run: --example NAME or --bin NAME".into())
    })?;
    if watch.is_empty() {
        watch = ["src", "examples", "Cargo.toml"].map(PathBuf::from).into();
    }
    Ok(Some(Options {
        target,
        cargo_args,
        addr,
        watch,
        ready,
        ready_timeout,
        stop_timeout,
        program_args,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Result<Option<Options>, DevError> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn options_for_cargo_and_for_the_program_are_kept_apart() {
        let options = parse_str(&[
            "--example",
            "todo",
            "--release",
            "--features",
            "x",
            "--addr",
            "127.0.0.1:4000",
            "--",
            "--verbose",
            "--release",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(options.target, Target::Example("todo".into()));
        assert_eq!(options.cargo_args, ["--release", "--features", "x"]);
        assert_eq!(options.addr, "127.0.0.1:4000");
        assert_eq!(options.program_args, ["--verbose", "--release"]);
        assert_eq!(options.ready, ReadyWhen::Notified);
        assert_eq!(options.watch.len(), 3);
    }

    #[test]
    fn a_missing_program_or_an_unknown_option_is_a_usage_error() {
        assert!(parse_str(&[])
            .unwrap_err()
            .to_string()
            .contains("--example NAME"));
        assert!(parse_str(&["--bin", "x", "--what"])
            .unwrap_err()
            .to_string()
            .contains("unknown option"));
        assert!(parse_str(&["--help"]).unwrap().is_none());
    }
}

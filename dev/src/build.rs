//! Building the app: the [`Builder`] the runner calls, and [`Cargo`], the real one.

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Builds the app and says where its executable is.
///
/// The runner calls it on every change, while the old process keeps serving; tests give it a
/// fake.
pub(crate) trait Builder {
    /// Builds, blocking until done. On failure the compiler's errors have been shown.
    fn build(&mut self) -> Result<PathBuf, BuildFailed>;
}

/// Why a build gave no executable.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BuildFailed {
    /// cargo could not be started.
    #[error("could not run cargo ({0}); is it on PATH, or set CARGO?")]
    Spawn(#[source] io::Error),
    /// The compiler found errors, shown above.
    #[error("the build failed: the compiler's errors are above")]
    Compile,
    /// cargo built, but no executable of that name.
    #[error("cargo built no executable named `{0}`; check --example or --bin")]
    NoExecutable(String),
}

/// What to build: `--example NAME` or `--bin NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `cargo build --example NAME`.
    Example(String),
    /// `cargo build --bin NAME`.
    Bin(String),
}

impl Target {
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Example(name) | Self::Bin(name) => name,
        }
    }
}

/// `cargo build` of one example or binary, with the options passed through (`--release`,
/// `--features`, `-p`, ...).
///
/// cargo renders the compiler's messages on standard error as usual
/// (`--message-format=json-render-diagnostics`); standard output carries its JSON, read for
/// the executable's path, which depends on the target directory and the profile.
#[derive(Debug)]
pub(crate) struct Cargo {
    program: OsString,
    target: Target,
    args: Vec<OsString>,
}

impl Cargo {
    pub(crate) fn new(target: Target, args: Vec<OsString>) -> Self {
        Self {
            program: std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
            target,
            args,
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args([
            "build",
            "--quiet",
            "--message-format=json-render-diagnostics",
        ]);
        match &self.target {
            Target::Example(name) => command.args(["--example", name]),
            Target::Bin(name) => command.args(["--bin", name]),
        };
        command.args(&self.args);
        command
    }
}

impl Builder for Cargo {
    fn build(&mut self) -> Result<PathBuf, BuildFailed> {
        let mut child = self
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(BuildFailed::Spawn)?;
        let mut executable = None;
        if let Some(stdout) = child.stdout.take() {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(path) = executable_in(&line, &self.target) {
                    executable = Some(path);
                }
            }
        }
        let status = child.wait().map_err(BuildFailed::Spawn)?;
        if !status.success() {
            return Err(BuildFailed::Compile);
        }
        executable.ok_or_else(|| BuildFailed::NoExecutable(self.target.name().to_owned()))
    }
}

/// The executable of `target` named by one line of cargo's JSON messages, if it names one.
fn executable_in(line: &str, target: &Target) -> Option<PathBuf> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message.get("reason")?.as_str()? != "compiler-artifact" {
        return None;
    }
    let built = message.get("target")?;
    let kind = match target {
        Target::Example(_) => "example",
        Target::Bin(_) => "bin",
    };
    let kinds = built.get("kind")?.as_array()?;
    if built.get("name")?.as_str()? != target.name() || !kinds.iter().any(|k| k == kind) {
        return None;
    }
    Some(PathBuf::from(message.get("executable")?.as_str()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_executable_is_read_from_cargos_messages() {
        let line = r#"{"reason":"compiler-artifact","target":{"kind":["example"],"name":"todo"},"executable":"/t/debug/examples/todo"}"#;
        let todo = Target::Example("todo".into());
        assert_eq!(
            executable_in(line, &todo),
            Some(PathBuf::from("/t/debug/examples/todo"))
        );
        assert_eq!(executable_in(line, &Target::Bin("todo".into())), None);
        assert_eq!(executable_in(line, &Target::Example("other".into())), None);
        assert_eq!(executable_in(r#"{"reason":"build-finished"}"#, &todo), None);
        assert_eq!(executable_in("not json", &todo), None);
    }

    #[test]
    fn the_command_passes_the_options_through() {
        let cargo = Cargo::new(
            Target::Example("todo".into()),
            vec!["--release".into(), "--features".into(), "lambda".into()],
        );
        let command = cargo.command();
        let args: Vec<_> = command.get_args().collect();
        assert_eq!(
            args,
            [
                "build",
                "--quiet",
                "--message-format=json-render-diagnostics",
                "--example",
                "todo",
                "--release",
                "--features",
                "lambda"
            ]
        );
    }
}

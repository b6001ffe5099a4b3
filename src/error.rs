//! Error types: what went wrong at validation, startup, shutdown and serving.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A boxed error, the form in which roadie carries the errors of user code.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The top-level error of [`App::serve`](crate::App::serve) and friends.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The app did not start: it was invalid, or a startup node failed.
    #[error(transparent)]
    Startup(#[from] StartupError),
    /// The app started and served, but its shutdown reported failures.
    #[error(transparent)]
    Shutdown(#[from] ShutdownError),
    /// The server could not bind its address or accept connections.
    #[error("{context}: {source}")]
    Io {
        /// What roadie was doing.
        context: String,
        /// The operating system's error.
        #[source]
        source: Arc<std::io::Error>,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source: Arc::new(source),
        }
    }
}

/// Why a node (provider, lifespan, hook, release) failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Failure {
    /// The node returned an error.
    Error(Arc<dyn StdError + Send + Sync + 'static>),
    /// The node panicked; the panic message is kept.
    Panic(String),
    /// The node was still running when its timeout elapsed.
    Timeout(Duration),
    /// A lifespan returned without calling `Lifespan::ready`.
    NotReady,
}

impl Failure {
    pub(crate) fn from_error(error: impl Into<BoxError>) -> Self {
        Self::Error(Arc::from(error.into()))
    }

    pub(crate) fn from_panic(payload: Box<dyn std::any::Any + Send>) -> Self {
        Self::Panic(panic_message(payload.as_ref()))
    }

    /// Whether the node panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, Self::Panic(_))
    }

    /// Whether the node ran past its timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout(_))
    }
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Error(error) => {
                write!(f, "{error}")?;
                let mut source = error.source();
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
            Self::Panic(message) => write!(f, "panicked: {message}"),
            Self::Timeout(after) => write!(f, "timed out after {after:?} and was cancelled"),
            Self::NotReady => f.write_str(
                "returned without calling `Lifespan::ready`; call `lifespan.ready(value).await` \
                 once setup is done",
            ),
        }
    }
}

impl StdError for Failure {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Error(error) => Some(&**error),
            _ => None,
        }
    }
}

/// The part of the lifecycle in which a node failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// A startup provider or a lifespan's setup.
    Startup,
    /// A lifespan's teardown (the code after `ready`).
    Teardown,
    /// A shutdown hook.
    Shutdown,
    /// A background task (`App::background`, `App::every`): while the app ran, or while it
    /// was told to stop.
    Background,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Startup => "startup",
            Self::Teardown => "teardown",
            Self::Shutdown => "shutdown",
            Self::Background => "its background run",
        })
    }
}

/// One node's failure: which node, in which stage, and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{node}` failed during {stage}: {failure}")]
pub struct NodeError {
    pub(crate) node: String,
    pub(crate) stage: Stage,
    #[source]
    pub(crate) failure: Failure,
}

impl NodeError {
    pub(crate) fn new(node: impl Into<String>, stage: Stage, failure: Failure) -> Self {
        Self {
            node: node.into(),
            stage,
            failure,
        }
    }

    /// The name of the node that failed.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The stage it failed in.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// Why it failed.
    pub fn failure(&self) -> &Failure {
        &self.failure
    }
}

/// One problem found while validating an app, before anything runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// A node needs a session-scoped resource that nothing provides.
    MissingResource {
        /// The type that is missing.
        ty: &'static str,
        /// The node that needs it.
        needed_by: String,
    },
    /// A node needs a request-scoped dependency that nothing provides.
    MissingDependency {
        /// The type that is missing.
        ty: &'static str,
        /// The node that needs it.
        needed_by: String,
    },
    /// Nodes need each other in a loop.
    Cycle {
        /// The loop, first node repeated at the end.
        path: Vec<String>,
    },
    /// Two nodes provide the same type.
    Duplicate {
        /// The type provided twice.
        ty: &'static str,
        /// The first provider.
        first: String,
        /// The second provider.
        second: String,
        /// Whether the two are request-scoped dependencies.
        request_scoped: bool,
    },
    /// A node asks for something its scope cannot have (a startup provider asking for a
    /// request-scoped dependency or for a part of the request).
    Scope {
        /// The node.
        node: String,
        /// What it asks for.
        asks_for: String,
        /// Why that cannot work and what to do.
        why: &'static str,
    },
    /// A route could not be registered.
    Route {
        /// The route's method and path.
        route: String,
        /// Why.
        reason: String,
    },
    /// A setting was applied to a node it does not apply to (a timeout on a route).
    Setting {
        /// The node.
        node: String,
        /// The setting (`App::timeout`).
        setting: &'static str,
        /// Why it does not apply, and what to do.
        why: String,
    },
    /// An app merged or nested into another has tower layers (`App::layer`), which cannot
    /// wrap only its routes.
    Layer {
        /// The merged app: its module name, or `a merged app`.
        module: String,
        /// How many layers it has.
        layers: usize,
    },
    /// `App::replace` named a type that nothing provides.
    ReplacedNothing {
        /// The type.
        ty: &'static str,
        /// The replacement.
        by: String,
    },
    /// A replacement (`App::replace`) registers other types than the node it replaces, which
    /// registers several at once (`Each`).
    ReplacedPart {
        /// The node replaced.
        original: String,
        /// What it registers.
        registers: String,
        /// The replacement.
        by: String,
        /// What the replacement registers.
        instead: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingResource { ty, needed_by } => write!(
                f,
                "`{needed_by}` needs the resource `{ty}`, but nothing provides it: register a \
                 provider of `{ty}` with `App::on_startup` or `App::lifespan`, or ask for \
                 `Option<Res<{ty}>>` if it is optional"
            ),
            Self::MissingDependency { ty, needed_by } => write!(
                f,
                "`{needed_by}` needs the request-scoped dependency `{ty}`, but nothing provides \
                 it: register one with `App::dependency`"
            ),
            Self::Cycle { path } => write!(
                f,
                "dependency cycle: {}; break the loop so that one of them no longer needs the next",
                path.join(" -> ")
            ),
            Self::Duplicate {
                ty,
                first,
                second,
                request_scoped,
            } => {
                let what = if *request_scoped {
                    "request-scoped dependencies"
                } else {
                    "providers"
                };
                write!(
                    f,
                    "two {what} of `{ty}`: `{first}` and `{second}`; keep one, or use \
                     `App::replace` to swap one for the other"
                )
            }
            Self::Scope {
                node,
                asks_for,
                why,
            } => write!(f, "`{node}` asks for `{asks_for}`: {why}"),
            Self::Route { route, reason } => write!(f, "route `{route}`: {reason}"),
            Self::Setting { node, setting, why } => {
                write!(f, "`{setting}` on `{node}` does nothing: {why}")
            }
            Self::Layer { module, layers } => write!(
                f,
                "{module} has {layers} layer{s} (`App::layer`), but a layer wraps the whole app \
                 that serves, not the routes of one module: add the layer to the app that \
                 serves",
                s = if *layers == 1 { "" } else { "s" }
            ),
            Self::ReplacedNothing { ty: "()", by } => write!(
                f,
                "`{by}` provides nothing, so it replaces nothing: a replacement returns the \
                 value it stands in for (`Result<T, E>`), or use `App::replace_with` or \
                 `roadie::value`"
            ),
            Self::ReplacedNothing { ty, by } => write!(
                f,
                "`{by}` replaces `{ty}`, but nothing provides `{ty}`: register its provider \
                 first, or register `{by}` as a provider"
            ),
            Self::ReplacedPart {
                original,
                registers,
                by,
                instead,
            } => write!(
                f,
                "`{by}` registers `{instead}` in place of `{original}`, which registers \
                 `{registers}` together: a replacement registers the same types, so return \
                 `Each::new((..))` with a value for each of them"
            ),
        }
    }
}

/// Every problem that validation found, reported together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub(crate) problems: Vec<Problem>,
}

impl ValidationError {
    /// The problems, in the order they were found.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.as_slice() {
            [one] => write!(f, "the app is not valid: {one}"),
            many => {
                write!(f, "the app is not valid ({} problems):", many.len())?;
                for problem in many {
                    write!(f, "\n  - {problem}")?;
                }
                Ok(())
            }
        }
    }
}

impl StdError for ValidationError {}

/// Why an app did not start.
///
/// On a failed start, everything that had started was already torn down in reverse order
/// before this error was returned; failures of that teardown are in
/// [`StartupError::rollback`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// Validation found problems; nothing ran.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A node failed (error, panic or timeout); what had started was torn down.
    #[error("startup failed: {failed}{}", RollbackText(.rollback))]
    Failed {
        /// The node that failed.
        failed: NodeError,
        /// Failures of the teardown that followed, if any.
        rollback: Vec<NodeError>,
    },
    /// The runtime lacks what roadie needs; nothing ran.
    #[error("roadie cannot start: it needs {missing}; {enable}")]
    Runtime {
        /// What is missing (`tokio's time driver`).
        missing: &'static str,
        /// What to do about it, naming the builder call.
        enable: &'static str,
    },
}

struct RollbackText<'a>(&'a [NodeError]);

impl fmt::Display for RollbackText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        write!(
            f,
            "; the rollback also reported {} failure(s):",
            self.0.len()
        )?;
        for error in self.0 {
            write!(f, "\n  - {error}")?;
        }
        Ok(())
    }
}

impl StartupError {
    /// The validation problems, if validation failed.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Invalid(invalid) => invalid.problems(),
            Self::Failed { .. } | Self::Runtime { .. } => &[],
        }
    }

    /// The node that failed, if a node failed.
    pub fn failed_node(&self) -> Option<&str> {
        match self {
            Self::Failed { failed, .. } => Some(failed.node()),
            Self::Invalid(_) | Self::Runtime { .. } => None,
        }
    }

    /// Why the node failed, if a node failed.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Self::Failed { failed, .. } => Some(failed.failure()),
            Self::Invalid(_) | Self::Runtime { .. } => None,
        }
    }

    /// Failures of the teardown that ran after a failed start.
    pub fn rollback(&self) -> &[NodeError] {
        match self {
            Self::Failed { rollback, .. } => rollback,
            Self::Invalid(_) | Self::Runtime { .. } => &[],
        }
    }
}

/// Failures during shutdown, all of them: a failing hook does not stop the others.
///
/// When a background task's failure stopped the app, that failure is the
/// [`cause`](ShutdownError::cause), and the first of [`failures`](ShutdownError::failures).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", ShutdownText(self))]
pub struct ShutdownError {
    pub(crate) failures: Vec<NodeError>,
    /// Whether the first failure is a background task's that stopped the app.
    pub(crate) caused: bool,
}

struct ShutdownText<'a>(&'a ShutdownError);

impl fmt::Display for ShutdownText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let error = self.0;
        let rest = match error.cause() {
            Some(cause) => {
                write!(
                    f,
                    "the background task `{}` failed, which stopped the app: {}; handle the \
                     error inside the task to keep the app running, or register it with \
                     `.restart(Backoff::exponential(initial, max))` to restart it",
                    cause.node, cause.failure
                )?;
                if error.failures.len() == 1 {
                    return Ok(());
                }
                write!(
                    f,
                    "; the shutdown also reported {} failure(s):",
                    error.failures.len() - 1
                )?;
                &error.failures[1..]
            }
            None => {
                write!(f, "shutdown reported {} failure(s):", error.failures.len())?;
                &error.failures[..]
            }
        };
        for failure in rest {
            write!(f, "\n  - {failure}")?;
        }
        Ok(())
    }
}

impl ShutdownError {
    /// Every failure, in the order the nodes ran; a background task's failure that stopped
    /// the app comes first.
    pub fn failures(&self) -> &[NodeError] {
        &self.failures
    }

    /// The background task's failure that stopped the app, if one did (a task that returned
    /// `Err` or panicked while the app ran, without a restart policy).
    pub fn cause(&self) -> Option<&NodeError> {
        self.failures.first().filter(|_| self.caused)
    }
}

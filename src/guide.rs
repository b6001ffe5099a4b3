//! The guide: one chapter per topic. Every code block here is compiled and run as a test.

/// The README, compiled so that its example stays true.
#[cfg(feature = "macros")]
#[doc(hidden)]
#[doc = include_str!("../README.md")]
pub mod readme {}

/// Modules and test doubles: apps built from modules with `merge` and `nest`, and providers
/// replaced in tests.
#[doc = include_str!("../docs/modules.md")]
pub mod modules {}

/// Handlers and extractors: routes, the parameters a handler can take, rejections, responses
/// and panics.
#[doc = include_str!("../docs/handlers-and-extractors.md")]
pub mod handlers_and_extractors {}

/// Dependency injection: resources (session scope) and request-scoped dependencies, with
/// releases told how the request ended.
#[doc = include_str!("../docs/dependency-injection.md")]
pub mod dependency_injection {}

/// Testing with `execute`, and test doubles.
#[doc = include_str!("../docs/testing.md")]
pub mod testing {}

//! Extractors: how handlers, dependencies, providers and hooks receive what they need by type.
//!
//! Every parameter type implements [`FromContext`] (resolvable many times, without consuming
//! the request) or, for the last parameter of a handler only, [`FromRequest`] (which may take
//! the request body). Each extractor says once, at registration, what it needs ([`Needs`]);
//! that is how a missing resource becomes a startup error instead of a request-time 500.

mod error;
mod json_de;
mod lifespan;
mod path_de;
mod request;
mod resources;

use std::any::TypeId;
use std::fmt;
use std::future::Future;

use bytes::Bytes;
use smallvec::SmallVec;

pub(crate) use self::lifespan::Lender;
pub(crate) use self::lifespan::LifespanSlot;
pub use self::lifespan::{Each, Lifespan, One, Resources, StillHeld, Teardown};
pub use self::request::{Json, Path, Query};
pub use self::resources::Shutdown;
use crate::container::{registered, type_of};
pub use crate::container::{Container, Res};
use crate::names::static_short;
pub use crate::response::Rejection;
pub use crate::scope::Dep;
use crate::scope::{DependencyIndex, Scope};
use crate::shutdown::ShutdownTrigger;

/// Path parameters of a matched route, percent-decoded, in path order. The names are the
/// route's, interned once when the router is built. A value without `%` is read where it is,
/// in the request's path, by its place there: routing copies nothing and checks nothing
/// again. Before anything can change the path (a middleware, which owns the request, or
/// [`Context::parts_mut`]), the values are copied out ([`Params::own`]); a value that must be
/// decoded is copied out with the others at once.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params {
    /// Each parameter's name, and where its value starts and ends: in the request's path, or
    /// in `text` once the values are `owned`.
    spans: SmallVec<[(&'static str, usize, usize); 2]>,
    /// The values copied out of the path, one after another: only whole `str`s are pushed,
    /// so any span of it is UTF-8. A route's few short parameters fit inline.
    text: SmallVec<[u8; 24]>,
    /// Whether the values are in `text` rather than in the path.
    owned: bool,
}

impl Params {
    /// Adds the parameter `name`, whose value is `path[start..end]` as it is in the path (an
    /// escape that is not UTF-8 is replaced when it is decoded).
    #[inline]
    pub(crate) fn push(&mut self, name: &'static str, path: &str, start: usize, end: usize) {
        // Bytes, not text: looking for `%` needs no check of where the value starts and ends.
        let raw = path.as_bytes().get(start..end).unwrap_or_default();
        let escaped = raw.contains(&b'%');
        if !escaped && !self.owned {
            self.spans.push((name, start, end));
            return;
        }
        self.push_owned(name, path, start, end, escaped);
    }

    /// Adds a parameter whose value is copied out of the path: decoded, or after others
    /// were.
    fn push_owned(
        &mut self,
        name: &'static str,
        path: &str,
        start: usize,
        end: usize,
        escaped: bool,
    ) {
        let raw = path.get(start..end).unwrap_or_default();
        self.own(path);
        let start = self.text.len();
        if escaped {
            let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
            self.text.extend_from_slice(decoded.as_bytes());
        } else {
            self.text.extend_from_slice(raw.as_bytes());
        }
        self.spans.push((name, start, self.text.len()));
    }

    /// Copies the values out of `path`, the request's path they were read from, so that they
    /// no longer depend on it; once is enough.
    pub(crate) fn own(&mut self, path: &str) {
        if self.owned {
            return;
        }
        self.owned = true;
        for (_, start, end) in &mut self.spans {
            let value = path.get(*start..*end).unwrap_or_default();
            *start = self.text.len();
            self.text.extend_from_slice(value.as_bytes());
            *end = self.text.len();
        }
    }

    /// The values, read from `path`: the path of the request they were found in.
    pub(crate) fn read<'p>(&'p self, path: &'p str) -> ParamValues<'p> {
        ParamValues { params: self, path }
    }
}

/// A request's path parameters, with the path they are read from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParamValues<'p> {
    params: &'p Params,
    path: &'p str,
}

impl<'p> ParamValues<'p> {
    /// How many parameters there are.
    pub(crate) fn len(&self) -> usize {
        self.params.spans.len()
    }

    /// The name and value of the parameter at `index`, in path order.
    #[inline]
    pub(crate) fn get(&self, index: usize) -> Option<(&'p str, &'p str)> {
        let &(name, start, end) = self.params.spans.get(index)?;
        let value = if self.params.owned {
            // Always UTF-8 (see `text`); checked again rather than trusted, as the crate has
            // no `unsafe`.
            std::str::from_utf8(&self.params.text[start..end]).unwrap_or_default()
        } else {
            // A slice of the path between two places the router found in it: no check of
            // the text itself.
            self.path.get(start..end).unwrap_or_default()
        };
        Some((name, value))
    }

    /// Each parameter's name and value, in path order.
    pub(crate) fn iter(&self) -> ParamsIter<'p> {
        ParamsIter {
            params: *self,
            index: 0,
        }
    }
}

/// The path parameters' names and values, in path order.
#[derive(Debug, Clone)]
pub(crate) struct ParamsIter<'p> {
    params: ParamValues<'p>,
    index: usize,
}

impl<'p> Iterator for ParamsIter<'p> {
    type Item = (&'p str, &'p str);

    fn next(&mut self) -> Option<Self::Item> {
        let param = self.params.get(self.index)?;
        self.index += 1;
        Some(param)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.params.len() - self.index;
        (left, Some(left))
    }
}

impl ExactSizeIterator for ParamsIter<'_> {}

/// What one parameter needs, recorded once at registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Need {
    pub(crate) kind: NeedKind,
    pub(crate) ty: TypeId,
    pub(crate) ty_name: &'static str,
    pub(crate) param: String,
}

impl Need {
    /// The type this need names and its name, unless it is `()`.
    pub(crate) fn registered(&self) -> Option<(TypeId, &'static str)> {
        registered((self.ty, self.ty_name))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NeedKind {
    /// A session-scoped resource; `optional` for `Option<Res<T>>`.
    Resource { optional: bool },
    /// A request-scoped dependency.
    Dependency,
    /// A part of the request's head (path, query, headers...): only routes and dependencies
    /// can have it.
    RequestPart,
    /// The request's body: only a route handler's last parameter can read it.
    Body,
    /// A value a lifespan registers (`Lifespan<T>`); `also` for each further type of one
    /// `Lifespan<(A, B), Each>`.
    Provides { also: bool },
}

/// The list of what a node's parameters need, filled by [`FromContext::describe`].
#[derive(Debug, Clone, Default)]
pub struct Needs {
    /// Most nodes have one or two parameters: those are kept in the registration itself, so
    /// that validating thousands of nodes reads them in one sweep rather than chasing a
    /// pointer per node.
    pub(crate) items: SmallVec<[Need; 2]>,
}

impl Needs {
    /// Records that the parameter needs the resource `T`; startup fails if nothing provides it.
    pub fn resource<T: Send + Sync + 'static>(&mut self) {
        let kind = NeedKind::Resource { optional: false };
        self.push(kind, ["Res<", ">"], type_of::<T>());
    }

    /// Records that the parameter would like the resource `T`, and accepts its absence.
    pub fn optional_resource<T: Send + Sync + 'static>(&mut self) {
        let kind = NeedKind::Resource { optional: true };
        self.push(kind, ["Option<Res<", ">>"], type_of::<T>());
    }

    /// Records that the parameter needs the request-scoped dependency `T`.
    pub fn dependency<T: Send + Sync + 'static>(&mut self) {
        self.push(NeedKind::Dependency, ["Dep<", ">"], type_of::<T>());
    }

    /// Records that the parameter reads a part of the request, `what` naming it for errors
    /// (for example `Path<u64>`). Only routes and request-scoped dependencies can have it.
    pub fn request_part(&mut self, what: impl Into<String>) {
        self.push_part(NeedKind::RequestPart, what.into());
    }

    /// Records that the parameter reads the request's body, `what` naming it for errors (for
    /// example `Json<Todo>`). Only a route handler's last parameter can.
    pub fn body(&mut self, what: impl Into<String>) {
        self.push_part(NeedKind::Body, what.into());
    }

    pub(crate) fn provides<T: Send + Sync + 'static>(&mut self) {
        let kind = NeedKind::Provides { also: false };
        self.push(kind, ["Lifespan<", ">"], type_of::<T>());
    }

    /// Records the types one `Lifespan<(A, B), Each>` registers.
    pub(crate) fn provides_each(&mut self, types: &[(TypeId, &'static str)], param: String) {
        for (at, &(ty, ty_name)) in types.iter().enumerate() {
            self.items.push(Need {
                kind: NeedKind::Provides { also: at > 0 },
                ty,
                ty_name,
                param: param.clone(),
            });
        }
    }

    /// A need of the request itself, which no node provides.
    fn push_part(&mut self, kind: NeedKind, param: String) {
        self.items.push(Need {
            kind,
            ty: TypeId::of::<()>(),
            ty_name: "request",
            param,
        });
    }

    /// A need of the type with the id `ty`, named `full_name` in full ([`type_of`]), for a
    /// parameter that reads `around[0]`, the type's short name, then `around[1]` (`Res<Db>`).
    /// Not generic: each parameter type compiles only the call.
    fn push(&mut self, kind: NeedKind, around: [&str; 2], (ty, full_name): (TypeId, &'static str)) {
        let ty_name = static_short(full_name);
        self.items.push(Need {
            kind,
            ty,
            ty_name,
            param: format!("{}{ty_name}{}", around[0], around[1]),
        });
    }

    /// Whether nothing is needed.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// What an extractor can look at once, when its node is prepared (before the node's first
/// call): the resources registered so far, and where each request-scoped dependency lives.
#[derive(Debug)]
pub struct Prepare<'a> {
    pub(crate) container: &'a Container,
    pub(crate) dependencies: Option<&'a DependencyIndex>,
}

impl<'a> Prepare<'a> {
    /// The container of session-scoped resources, as far as it is filled.
    pub fn container(&self) -> &'a Container {
        self.container
    }
}

/// What an extractor can look at on each call: the request (for routes and request-scoped
/// dependencies), the request scope, and the app's shutdown handle.
pub struct Context<'a> {
    pub(crate) request: Option<RequestContext<'a>>,
    pub(crate) lifespan: Option<LifespanSlot>,
    pub(crate) shutdown: &'a ShutdownTrigger,
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("in_request", &self.request.is_some())
            .finish_non_exhaustive()
    }
}

pub(crate) struct RequestContext<'a> {
    pub(crate) parts: &'a mut http::request::Parts,
    /// Read from `parts`' path until something could change it (see [`Params::own`]).
    pub(crate) params: &'a mut Params,
    pub(crate) scope: &'a mut Scope,
}

impl<'a> Context<'a> {
    /// The context of a call outside any request: a startup provider, a lifespan (with its
    /// slot) or a shutdown hook.
    pub(crate) fn outside_request(
        shutdown: &'a ShutdownTrigger,
        lifespan: Option<LifespanSlot>,
    ) -> Self {
        Self {
            request: None,
            lifespan,
            shutdown,
        }
    }

    /// The request's head (method, URI, headers, extensions), when called for a request.
    pub fn parts(&self) -> Option<&http::request::Parts> {
        self.request.as_ref().map(|r| &*r.parts)
    }

    /// The request's head, mutably, when called for a request.
    pub fn parts_mut(&mut self) -> Option<&mut http::request::Parts> {
        self.request.as_mut().map(|r| {
            // The caller may change the path: the path parameters no longer read from it.
            r.params.own(r.parts.uri.path());
            &mut *r.parts
        })
    }

    pub(crate) fn request_parts(&self, what: &str) -> Result<&http::request::Parts, Rejection> {
        self.parts().ok_or_else(|| {
            Rejection::internal(format!(
                "`{what}` can only be read while handling a request"
            ))
        })
    }
}

/// A parameter that can be resolved from the app's context without consuming the request:
/// resources, request-scoped dependencies, the path, the query, headers, the shutdown handle.
///
/// `describe` runs once at registration, `prepare` once before the node's first call, and
/// `from_context` on every call. Work that can be done once belongs in `prepare`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a parameter of a roadie handler, provider, dependency or hook",
    label = "not an extractor",
    note = "parameters are extractors: `Res<T>` for a resource, `Dep<T>` for a request-scoped \
            dependency, `Path<T>`, `Query<T>`, `HeaderMap`, `Method`, `Uri`, `Shutdown`; the body \
            (`Json<T>`, `String`, `Bytes`) goes last in a route handler",
    note = "with the `#[on_startup]`, `#[dependency]` or route attributes, `&T` also asks for the resource `T`"
)]
pub trait FromContext: Sized + Send + 'static {
    /// What `prepare` computes once for this parameter of this node.
    type State: Send + Sync + 'static;

    /// Records what this parameter needs. Runs once, at registration.
    fn describe(needs: &mut Needs);

    /// Computes the per-node state. Runs once, before the node's first call.
    fn prepare(cx: &Prepare<'_>) -> Self::State;

    /// Resolves the parameter for one call.
    fn from_context<'a>(
        state: &'a Self::State,
        cx: &'a mut Context<'_>,
    ) -> impl Future<Output = Result<Self, Rejection>> + Send + 'a;
}

mod private {
    #[derive(Debug, Clone, Copy)]
    pub enum ViaContext {}
    #[derive(Debug, Clone, Copy)]
    pub enum ViaRequest {}
}

/// A parameter that may consume the request body; only the last parameter of a route
/// handler can be one. Every [`FromContext`] type is also a `FromRequest`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the last parameter of a roadie route handler",
    label = "not an extractor",
    note = "the last parameter may read the body: `Json<T>`, `String` or `Bytes`; any other \
            extractor (`Res<T>`, `Dep<T>`, `Path<T>`, ...) works in every position"
)]
pub trait FromRequest<M = private::ViaRequest>: Sized + Send + 'static {
    /// What `prepare` computes once for this parameter of this node.
    type State: Send + Sync + 'static;

    /// Records what this parameter needs. Runs once, at registration.
    fn describe(needs: &mut Needs);

    /// Computes the per-node state. Runs once, before the node's first call.
    fn prepare(cx: &Prepare<'_>) -> Self::State;

    /// Resolves the parameter for one call, taking the body.
    fn from_request<'a>(
        state: &'a Self::State,
        cx: &'a mut Context<'_>,
        body: Bytes,
    ) -> impl Future<Output = Result<Self, Rejection>> + Send + 'a;
}

// `#[inline]` here and on the extraction of `Res<T>` and `Option<Res<T>>`: these are
// instantiated per type read, and a release build then compiles them into the one codegen
// unit of the function that reads them, rather than once more in a unit of their own
// (docs/performance.md, "Sixth round").
#[diagnostic::do_not_recommend]
impl<T: FromContext> FromRequest<private::ViaContext> for T {
    type State = T::State;

    #[inline]
    fn describe(needs: &mut Needs) {
        T::describe(needs);
    }

    #[inline]
    fn prepare(cx: &Prepare<'_>) -> Self::State {
        T::prepare(cx)
    }

    #[inline]
    fn from_request<'a>(
        state: &'a Self::State,
        cx: &'a mut Context<'_>,
        _body: Bytes,
    ) -> impl Future<Output = Result<Self, Rejection>> + Send + 'a {
        T::from_context(state, cx)
    }
}

//! The route attributes: `#[get("/path")]`, `#[post]`, `#[put]`, `#[patch]`, `#[delete]` and
//! `#[route(METHOD, "/path")]`.
//!
//! An annotated handler returns `Routed<Fut, Info>`: its own future, with the route's method
//! and path carried by `Info`, so that `App::route(handler)` registers it by its name alone.
//! `Info` is an uninhabited enum: it lives only in the type namespace, so a variable named like
//! the handler (`let get_user = ...;`) never turns into a pattern of it.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::ext::IdentExt;
use syn::{LitStr, Type};

use crate::args::{self, RouteArgs, RouteSetting};
use crate::exports::Exports;
use crate::function::{self, last_segment, Errors, Function, Kind, Output, ParamKind};
use crate::path::{self, PathParam};

/// Expands a route attribute: `method` is `Some("GET")` for `#[get]`, `None` for `#[route]`.
pub(crate) fn expand(
    attribute: &str,
    method: Option<&str>,
    args: TokenStream,
    item: TokenStream,
) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let route = match method {
        Some(method) => args::method_route(attribute, method, args),
        None => args::any_route(args),
    };
    let route = route.and_then(|route| {
        let params = path::params(&route.path)?;
        Ok((route, params))
    });
    let function = function::parse(attribute, item)
        .and_then(|item| function::analyze(attribute, Kind::Route, item));
    match (route, function) {
        (Ok((route, params)), Ok(function)) => {
            check_bindings(&mut errors, &route.path, &params, &function);
            errors.finish()?;
            Ok(generate(&route, &function))
        }
        (route, function) => {
            if let Err(error) = route {
                errors.push(error);
            }
            if let Err(error) = function {
                errors.push(error);
            }
            errors.finish().map(|()| TokenStream::new())
        }
    }
}

fn generate(route: &RouteArgs, function: &Function) -> TokenStream {
    let exports = Exports::find();
    let item = &function.item;
    let name = &item.sig.ident;
    let vis = &item.vis;
    let info = format_ident!("__roadie_route_{}", name.unraw(), span = name.span());
    let route_info = exports.route_info();
    let method = LitStr::new(&route.method, Span::call_site());
    let path = &route.path;
    let cfgs = item
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .collect::<Vec<_>>();
    let handler = function.expand(&exports, Output::Route { info: &info });
    let settings = (!route.settings.is_empty()).then(|| {
        let app = exports.app();
        let calls = route.settings.iter().map(|setting| match setting {
            RouteSetting::ETag(f) => quote!(.etag(#f)),
            RouteSetting::LastModified(f) => quote!(.last_modified(#f)),
            RouteSetting::Provides(types) => quote!(.provides([#(#types),*])),
        });
        quote! {
            fn settings(app: #app) -> #app {
                app #(#calls)*
            }
        }
    });
    quote! {
        #(#cfgs)*
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code, unreachable_pub)]
        #[derive(::core::fmt::Debug)]
        #vis enum #info {}

        #(#cfgs)*
        impl #route_info for #info {
            const METHOD: &'static str = #method;
            const PATH: &'static str = #path;
            #settings
        }

        #handler
    }
}

/// What a parameter tells about the path parameters it reads.
enum Reads {
    /// A `Path<T>` extractor reading this many parameters, when its type tells.
    Path(Option<usize>),
    /// Reads none of them (a resource, the query, the body, headers...).
    Nothing,
    /// Might read them (`Dep<T>`, `Uri`, an extractor of the user's own).
    Unknown,
}

/// Types that `Path<T>` reads from exactly one parameter.
const SCALARS: &[&str] = &[
    "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize", "f32",
    "f64", "bool", "char", "String",
];

/// Extractors of roadie that never read the path.
const NOT_THE_PATH: &[&str] = &[
    "Res",
    "Query",
    "Json",
    "HeaderMap",
    "Method",
    "Bytes",
    "String",
    "Shutdown",
];

fn reads(kind: &ParamKind, ty: &Type) -> Reads {
    if !matches!(kind, ParamKind::Value) {
        return Reads::Nothing;
    }
    match last_segment(ty) {
        Some((ident, args)) if ident == "Path" => match args.as_slice() {
            [Type::Tuple(tuple)] => Reads::Path(Some(tuple.elems.len())),
            [inner] => match last_segment(inner) {
                Some((inner, inner_args))
                    if inner_args.is_empty() && SCALARS.iter().any(|s| inner == s) =>
                {
                    Reads::Path(Some(1))
                }
                _ => Reads::Path(None),
            },
            _ => Reads::Path(None),
        },
        Some((ident, args)) if ident == "Option" => match args.as_slice() {
            [inner] if matches!(last_segment(inner), Some((inner, _)) if inner == "Res") => {
                Reads::Nothing
            }
            _ => Reads::Unknown,
        },
        Some((ident, _)) if NOT_THE_PATH.iter().any(|known| ident == known) => Reads::Nothing,
        _ => Reads::Unknown,
    }
}

fn list(params: &[PathParam]) -> String {
    params
        .iter()
        .map(|param| format!("`{{{}}}`", param.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reports path parameters that no parameter of the handler can read, and `Path` extractors
/// that read more or fewer parameters than the path has, where the types tell.
fn check_bindings(errors: &mut Errors, path: &LitStr, params: &[PathParam], function: &Function) {
    let mut any_path = false;
    let mut unknown = false;
    for param in &function.params {
        match reads(&param.kind, &param.ty) {
            Reads::Path(count) => {
                any_path = true;
                let Some(count) = count else { continue };
                let ty = &param.ty;
                if params.is_empty() {
                    errors.spanned(
                        ty,
                        format!(
                            "this `Path` reads a path parameter, but {} has none: add one to \
                             the path (`\"{}/{{id}}\"`) or remove the parameter",
                            quote!(#path),
                            path.value().trim_end_matches('/')
                        ),
                    );
                } else if count < params.len() {
                    errors.spanned(
                        ty,
                        format!(
                            "{} in the path {} not bound: this `Path` reads {count} of the \
                             path's {} parameters; give it one type per parameter, as a tuple \
                             in path order",
                            list(&params[count..]),
                            if params.len() - count == 1 {
                                "is"
                            } else {
                                "are"
                            },
                            params.len()
                        ),
                    );
                } else if count > params.len() {
                    errors.spanned(
                        ty,
                        format!(
                            "this `Path` reads {count} parameters, but the path has {} ({}): \
                             give it one type per parameter, as a tuple in path order",
                            params.len(),
                            list(params)
                        ),
                    );
                }
            }
            Reads::Nothing => {}
            Reads::Unknown => unknown = true,
        }
    }
    if !params.is_empty() && !any_path && !unknown {
        let example = match params {
            [one] => format!("`Path({}): Path<u64>`", one.name),
            many => format!(
                "`Path(({})): Path<({})>`",
                many.iter()
                    .map(|param| param.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                many.iter().map(|_| "..").collect::<Vec<_>>().join(", ")
            ),
        };
        errors.spanned(
            path,
            format!(
                "{} in the path {} not bound: no parameter of `{}` reads the path; add {example} \
                 (`Path(_): Path<String>` to ignore it)",
                list(params),
                if params.len() == 1 { "is" } else { "are" },
                function.item.sig.ident
            ),
        );
    }
}

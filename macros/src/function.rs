//! What every attribute does to the function it annotates.
//!
//! The signature is checked (no `self`, no generics, no `&mut`, nothing borrowed but a
//! resource), then the function is rewritten so that it registers as it is:
//!
//! ```text
//! #[on_startup]
//! async fn database(config: &Config) -> Result<Database, DbError> { BODY }
//! ```
//!
//! becomes
//!
//! ```text
//! fn database(config: ::roadie::Res<Config>)
//!     -> impl Future<Output = Result<Database, DbError>> + Send
//! {
//!     async fn database(config: &Config) -> Result<Database, DbError> { BODY }
//!     async move { database(&*config).await }
//! }
//! ```
//!
//! The body keeps its own signature in the inner function, so `return`, `?` and borrows work
//! as written; the outer function, the one registered, keeps the name, so diagnostics read
//! `database`. A plain returned `T` becomes `Provide<T>` for providers and dependencies.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{
    Attribute, FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, ReturnType, Type,
    TypeReference, Visibility,
};

use crate::exports::Exports;

/// Which registration the attribute is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `#[on_startup]`: registers its returned value.
    Startup,
    /// `#[on_shutdown]`.
    Shutdown,
    /// `#[dependency]`: request-scoped.
    Dependency,
    /// `#[lifespan]`: async, takes `Lifespan<T>`.
    Lifespan,
    /// A route attribute: async, returns a response.
    Route,
    /// `#[middleware]`: async, takes `Request` and `Next` first.
    Middleware,
    /// `#[background]`: async, runs until shutdown.
    Background,
}

impl Kind {
    /// Whether a plain returned `T` is wrapped in `Provide<T>`.
    fn provides(self) -> bool {
        matches!(self, Self::Startup | Self::Dependency)
    }

    /// How an instance of a generic function registers without the attribute.
    fn register_instance(self) -> &'static str {
        match self {
            Self::Startup => ".on_startup(make::<Config>)",
            Self::Shutdown => ".on_shutdown(close::<Database>)",
            Self::Dependency => ".dependency(make::<Conn>)",
            Self::Lifespan => ".lifespan(pool::<Pool>)",
            Self::Route => ".get(\"/path\", handler::<User>)",
            Self::Middleware => ".wrap(require::<User>)",
            Self::Background => ".background(refresh::<Cache>)",
        }
    }

    /// What the function is called in messages.
    fn noun(self) -> &'static str {
        match self {
            Self::Startup => "a startup provider",
            Self::Shutdown => "a shutdown hook",
            Self::Dependency => "a request-scoped dependency",
            Self::Lifespan => "a lifespan",
            Self::Route => "a route handler",
            Self::Middleware => "a middleware",
            Self::Background => "a background task",
        }
    }
}

/// How a parameter is handed to the body.
#[derive(Debug)]
pub(crate) enum ParamKind {
    /// `&T`: the resource `T`, received as `Res<T>`.
    Borrowed(Type),
    /// `Option<&T>`: an optional resource, received as `Option<Res<T>>`.
    OptionalBorrowed(Type),
    /// Any extractor, received as it is.
    Value,
}

/// A parameter of the annotated function.
#[derive(Debug)]
pub(crate) struct Param {
    /// The name the outer function binds it to.
    pub(crate) binding: Ident,
    /// The type as the user wrote it.
    pub(crate) ty: Type,
    /// How it is received and handed on.
    pub(crate) kind: ParamKind,
}

/// An annotated function whose signature passed the checks.
#[derive(Debug)]
pub(crate) struct Function {
    pub(crate) item: ItemFn,
    pub(crate) params: Vec<Param>,
    kind: Kind,
}

/// Collects every error of one item, so that the user sees them all at once.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn spanned(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// Parses the annotated item as a function.
pub(crate) fn parse(attribute: &str, item: TokenStream) -> syn::Result<ItemFn> {
    syn::parse2::<ItemFn>(item.clone()).map_err(|_| {
        syn::Error::new_spanned(
            item,
            format!("`#[{attribute}]` goes on a function: `#[{attribute}] fn name(...) {{ ... }}`"),
        )
    })
}

/// Checks the signature of `item`, annotated with `#[attribute]`.
pub(crate) fn analyze(attribute: &str, kind: Kind, item: ItemFn) -> syn::Result<Function> {
    let mut errors = Errors::default();
    let sig = &item.sig;
    let name = &sig.ident;

    if let Some(unsafety) = &sig.unsafety {
        errors.spanned(
            unsafety,
            format!(
                "{} cannot be an `unsafe fn`: roadie calls it as a safe function; \
                 put the unsafe code in an `unsafe {{ ... }}` block inside",
                kind.noun()
            ),
        );
    }
    if let Some(abi) = &sig.abi {
        errors.spanned(
            abi,
            format!(
                "`#[{attribute}]` takes a Rust function: remove `{}`",
                abi.to_token_stream()
            ),
        );
    }
    if !sig.generics.params.is_empty() {
        errors.spanned(
            &sig.generics,
            format!(
                "`#[{attribute}]` cannot take a generic function: roadie finds what it needs by \
                 concrete type; name concrete types, or register an instance of a generic \
                 function without the attribute (`{}`)",
                kind.register_instance()
            ),
        );
    } else if let Some(where_clause) = &sig.generics.where_clause {
        errors.spanned(
            where_clause,
            format!("`#[{attribute}]` cannot take a `where` clause: name concrete types"),
        );
    }
    if sig.asyncness.is_none() {
        match kind {
            Kind::Route => errors.spanned(
                sig.fn_token,
                format!("route handlers are async: write `async fn {name}`"),
            ),
            Kind::Lifespan => errors.spanned(
                sig.fn_token,
                format!(
                    "a lifespan is async (it waits in `lifespan.ready(value).await`): \
                     write `async fn {name}`"
                ),
            ),
            Kind::Middleware => errors.spanned(
                sig.fn_token,
                format!("a middleware is async (it awaits `next.run(request)`): write `async fn {name}`"),
            ),
            Kind::Background => errors.spanned(
                sig.fn_token,
                format!(
                    "a background task is async (it runs until `shutdown.requested().await`): \
                     write `async fn {name}`"
                ),
            ),
            _ => {}
        }
    }

    let generic = !sig.generics.params.is_empty();
    let mut params = Vec::new();
    for (index, input) in sig.inputs.iter().enumerate() {
        match input {
            FnArg::Receiver(receiver) => errors.spanned(
                receiver,
                format!(
                    "{} cannot take `self`: roadie calls it with the parameters it resolves by \
                     type; make it a free function outside the `impl` block and take what it \
                     needs as parameters (`db: &Database`)",
                    kind.noun()
                ),
            ),
            FnArg::Typed(typed) => {
                if let Some(param) =
                    check_param(&mut errors, index, name, generic, &typed.pat, &typed.ty)
                {
                    params.push(param);
                }
            }
        }
    }
    if kind == Kind::Lifespan
        && !params
            .iter()
            .any(|param| matches!(last_segment(&param.ty), Some((ident, _)) if ident == "Lifespan"))
    {
        errors.spanned(
            &sig.ident,
            format!(
                "a lifespan takes a `Lifespan<T>` parameter, to register `T` with \
                 `lifespan.ready(value).await`: write `async fn {name}(lifespan: Lifespan<T>, ...)` \
                 (`Lifespan<()>` registers nothing)"
            ),
        );
    }
    if kind == Kind::Middleware {
        let named = |index: usize, expected: &str| {
            params.get(index).is_some_and(|param: &Param| {
                matches!(param.kind, ParamKind::Value)
                    && matches!(last_segment(&param.ty), Some((ident, _)) if ident == expected)
            })
        };
        if !(named(0, "Request") && named(1, "Next")) {
            errors.spanned(
                &sig.inputs,
                format!(
                    "a middleware takes the `Request`, then the `Next` step, then extractors: \
                     write `async fn {name}(request: Request, next: Next, ...)`"
                ),
            );
        }
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(variadic, "an annotated function cannot be variadic");
    }

    if let ReturnType::Type(_, ty) = &sig.output {
        let found = Borrows::find(ty);
        if let Some(borrow) = found.borrow {
            errors.spanned(
                &borrow,
                format!(
                    "{} cannot return a borrow (`{}`): return an owned value (`String` for \
                     `&str`, `T` or `Arc<T>` for `&T`)",
                    kind.noun(),
                    tidy(&borrow)
                ),
            );
        }
    }

    errors.finish()?;
    Ok(Function { item, params, kind })
}

/// Checks one parameter and decides how it is received.
fn check_param(
    errors: &mut Errors,
    index: usize,
    function: &Ident,
    generic: bool,
    pat: &Pat,
    ty: &Type,
) -> Option<Param> {
    let binding = match pat {
        Pat::Ident(ident)
            if ident.by_ref.is_none()
                && ident.subpat.is_none()
                && ident.ident.unraw() != function.unraw() =>
        {
            ident.ident.clone()
        }
        _ => format_ident!("__roadie_arg{}", index),
    };
    let kind = if let Type::Reference(reference) = ty {
        check_resource(errors, reference, ty, generic)?;
        ParamKind::Borrowed((*reference.elem).clone())
    } else if let Some(reference) = optional_reference(ty) {
        check_resource(errors, reference, ty, generic)?;
        ParamKind::OptionalBorrowed((*reference.elem).clone())
    } else {
        check_owned(errors, ty, "parameters", |borrow| {
            format!(
                "`{}` borrows (`{}`), but parameters own their values: use an owned type \
                 (`String` for `&str`, `Bytes` for `&[u8]`), or `&T` on its own to borrow \
                 the resource `T`",
                tidy(ty),
                tidy(borrow)
            )
        })?;
        ParamKind::Value
    };
    Some(Param {
        binding,
        ty: ty.clone(),
        kind,
    })
}

/// Checks `&T` (alone or in `Option<&T>`): shared, with no lifetime, of a `'static` type.
fn check_resource(
    errors: &mut Errors,
    reference: &TypeReference,
    whole: &Type,
    generic: bool,
) -> Option<()> {
    let elem = &reference.elem;
    if reference.mutability.is_some() {
        errors.push(syn::Error::new_spanned(
            reference,
            format!(
                "`{}`: resources are shared by every request and read-only; take `&{}` and put \
                 what must change behind a lock or an atomic inside it (`Mutex<...>`)",
                tidy(whole),
                tidy(elem)
            ),
        ));
        return None;
    }
    if let Some(lifetime) = &reference.lifetime {
        // A lifetime declared by the function is reported with its generics.
        if lifetime.ident != "_" && !generic {
            errors.spanned(
                lifetime,
                format!(
                    "a resource parameter takes no lifetime: write `&{}`; roadie lends the \
                     resource for the call",
                    tidy(elem)
                ),
            );
            return None;
        }
    }
    check_owned(errors, elem, "resources", |borrow| {
        format!(
            "the resource type `{}` borrows (`{}`), but resources live as long as the app \
             and must be `'static`: store an owned type (`String` for `&str`, `Arc<T>` \
             for `&T`)",
            tidy(elem),
            tidy(borrow)
        )
    })
}

/// Checks that `ty` names a concrete, owned type: no `impl Trait` (which would make the
/// function generic) and no borrow inside it. `what` names what roadie finds by type
/// (`parameters`, `resources`); `borrowed` writes the error for a borrow found.
fn check_owned(
    errors: &mut Errors,
    ty: &Type,
    what: &str,
    borrowed: impl FnOnce(&TokenStream) -> String,
) -> Option<()> {
    let found = Borrows::find(ty);
    if let Some(generic) = found.impl_trait {
        errors.spanned(
            &generic,
            format!(
                "`impl Trait` makes the function generic, but roadie finds {what} by their \
                 concrete type: name the type"
            ),
        );
        return None;
    }
    if let Some(borrow) = found.borrow {
        errors.spanned(&borrow, borrowed(&borrow));
        return None;
    }
    Some(())
}

/// `Option<&T>`, by the last segment of the path (`Option`, `std::option::Option`).
fn optional_reference(ty: &Type) -> Option<&TypeReference> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    if args.args.len() != 1 {
        return None;
    }
    match args.args.first() {
        Some(GenericArgument::Type(Type::Reference(reference))) => Some(reference),
        _ => None,
    }
}

/// The last segment of a type path and its generic arguments: `Path` and `u64` in
/// `roadie::Path<u64>`.
pub(crate) fn last_segment(ty: &Type) -> Option<(&Ident, Vec<&Type>)> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    let args = match &last.arguments {
        PathArguments::AngleBracketed(args) => args
            .args
            .iter()
            .filter_map(|arg| match arg {
                GenericArgument::Type(ty) => Some(ty),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Some((&last.ident, args))
}

/// Tokens printed as the user would write them: `& str`, as tokens print, reads `&str`.
fn tidy(tokens: &impl ToTokens) -> String {
    let text = tokens.to_token_stream().to_string();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == ' ' {
            let prev = out.chars().last();
            let next = chars.peek().copied();
            let glue_after = matches!(prev, Some('&' | '<' | '(' | '[' | '\'' | ':'));
            let glue_before = matches!(next, Some('>' | ',' | ')' | ']' | '<' | ':'));
            if glue_after || glue_before {
                continue;
            }
        }
        out.push(ch);
    }
    out
}

/// The first borrow and the first `impl Trait` found in a type.
#[derive(Default)]
struct Borrows {
    borrow: Option<TokenStream>,
    impl_trait: Option<TokenStream>,
}

impl Borrows {
    fn find(ty: &Type) -> Self {
        let mut found = Self::default();
        found.visit_type(ty);
        found
    }
}

impl<'ast> Visit<'ast> for Borrows {
    fn visit_type_reference(&mut self, reference: &'ast TypeReference) {
        let is_static = reference
            .lifetime
            .as_ref()
            .is_some_and(|lifetime| lifetime.ident == "static");
        if !is_static && self.borrow.is_none() {
            self.borrow = Some(reference.to_token_stream());
        }
        self.visit_type(&reference.elem);
    }

    fn visit_lifetime(&mut self, lifetime: &'ast syn::Lifetime) {
        if lifetime.ident != "static" && self.borrow.is_none() {
            self.borrow = Some(lifetime.to_token_stream());
        }
    }

    fn visit_type_impl_trait(&mut self, impl_trait: &'ast syn::TypeImplTrait) {
        if self.impl_trait.is_none() {
            self.impl_trait = Some(impl_trait.to_token_stream());
        }
    }
}

/// Attributes of the user's function, split between the outer function (docs, `cfg`,
/// deprecation, `allow`) and the inner one (everything about the body).
fn split_attributes(attrs: &[Attribute]) -> (Vec<&Attribute>, Vec<&Attribute>) {
    let mut outer = Vec::new();
    let mut inner = Vec::new();
    for attr in attrs {
        let path = attr.path();
        if path.is_ident("doc")
            || path.is_ident("cfg")
            || path.is_ident("cfg_attr")
            || path.is_ident("deprecated")
            || path.is_ident("must_use")
        {
            outer.push(attr);
        } else if path.is_ident("allow") {
            outer.push(attr);
            inner.push(attr);
        } else {
            inner.push(attr);
        }
    }
    (outer, inner)
}

/// What the outer function returns, beyond the inner function's output.
pub(crate) enum Output<'a> {
    /// The inner function's output as it is, or in `Provide<T>` for a plain provided `T`.
    Node,
    /// A route: the future in `Routed<Fut, Info>`.
    Route { info: &'a Ident },
}

impl Function {
    /// Whether the output is a plain `T` that registers through `Provide<T>`.
    fn wraps_in_provide(&self) -> bool {
        if !self.kind.provides() {
            return false;
        }
        let ReturnType::Type(_, ty) = &self.item.sig.output else {
            return false;
        };
        match &**ty {
            Type::Tuple(tuple) if tuple.elems.is_empty() => false,
            Type::Paren(_) | Type::Group(_) | Type::Never(_) => false,
            ty => !matches!(
                last_segment(ty),
                Some((ident, _)) if ident == "Result" || ident == "Provide" || ident == "Scoped"
            ),
        }
    }

    /// The rewritten function: the outer function that registers, around the inner one.
    pub(crate) fn expand(&self, exports: &Exports, output: Output<'_>) -> TokenStream {
        let item = &self.item;
        let sig = &item.sig;
        let name = &sig.ident;
        let vis = &item.vis;
        let (outer_attrs, inner_attrs) = split_attributes(&item.attrs);

        let outer_types: Vec<TokenStream> = self
            .params
            .iter()
            .map(|param| match &param.kind {
                ParamKind::Borrowed(inner) => {
                    let res = exports.res_at(param.ty.span());
                    quote_spanned!(param.ty.span()=> #res<#inner>)
                }
                ParamKind::OptionalBorrowed(inner) => {
                    let res = exports.res_at(param.ty.span());
                    quote_spanned!(param.ty.span()=> ::core::option::Option<#res<#inner>>)
                }
                ParamKind::Value => param.ty.to_token_stream(),
            })
            .collect();
        let outer_params = self.params.iter().zip(&outer_types).map(|(param, ty)| {
            let binding = &param.binding;
            quote!(#binding: #ty)
        });
        // Each parameter is checked where it is written, so that a type that is not an
        // extractor (or a resource that is not `Send + Sync`) is reported at the parameter,
        // not only at the registration. A route's last parameter may read the body instead.
        let checked = match output {
            Output::Route { .. } => self.params.len().saturating_sub(1),
            Output::Node => self.params.len(),
        };
        // A middleware's `Request` and `Next` are given, not extracted.
        let given = if self.kind == Kind::Middleware { 2 } else { 0 };
        let from_context = exports.extractor_trait();
        let checks = self
            .params
            .iter()
            .zip(&outer_types)
            .take(checked)
            .skip(given)
            .map(|(param, ty)| quote_spanned!(param.ty.span()=> let _ = __roadie_parameter::<#ty>;))
            .collect::<Vec<_>>();
        let checks = if checks.is_empty() {
            TokenStream::new()
        } else {
            quote! {
                fn __roadie_parameter<T: #from_context>() {}
                #(#checks)*
            }
        };
        let args = self.params.iter().map(|param| {
            let binding = &param.binding;
            match &param.kind {
                ParamKind::Borrowed(_) => quote!(&*#binding),
                ParamKind::OptionalBorrowed(_) => {
                    quote!(::core::option::Option::as_deref(&#binding))
                }
                ParamKind::Value => quote!(#binding),
            }
        });

        let inner = ItemFn {
            attrs: Vec::new(),
            vis: Visibility::Inherited,
            sig: sig.clone(),
            block: item.block.clone(),
        };

        let out_ty = match &sig.output {
            ReturnType::Default => quote!(()),
            ReturnType::Type(_, ty) => ty.to_token_stream(),
        };
        let ret_span = match &sig.output {
            ReturnType::Default => name.span(),
            ReturnType::Type(_, ty) => ty.span(),
        };
        let wrap = self.wraps_in_provide();
        let provide = exports.provide();
        let call = quote!(#name(#(#args),*));
        let is_async = sig.asyncness.is_some();

        let (outer_ret, body) = match output {
            Output::Route { info } => {
                let routed = exports.routed();
                (
                    quote_spanned!(ret_span=>
                        -> #routed<impl ::core::future::Future<Output = #out_ty> + ::core::marker::Send, #info>
                    ),
                    quote!(#routed::new(async move { #call.await })),
                )
            }
            Output::Node if is_async => {
                let (value_ty, value) = if wrap {
                    (quote!(#provide<#out_ty>), quote!(#provide(#call.await)))
                } else {
                    (out_ty.clone(), quote!(#call.await))
                };
                (
                    quote_spanned!(ret_span=>
                        -> impl ::core::future::Future<Output = #value_ty> + ::core::marker::Send
                    ),
                    quote!(async move { #value }),
                )
            }
            Output::Node => {
                if wrap {
                    (quote!(-> #provide<#out_ty>), quote!(#provide(#call)))
                } else {
                    let ret = &sig.output;
                    (quote!(#ret), call)
                }
            }
        };

        let fn_token = &sig.fn_token;
        quote! {
            #(#outer_attrs)*
            #[allow(clippy::too_many_arguments)]
            #vis #fn_token #name(#(#outer_params),*) #outer_ret {
                #checks
                #(#inner_attrs)*
                #inner
                #body
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_prints_types_as_written() {
        let ty: Type = syn::parse_quote!(Path<&'a str>);
        assert_eq!(tidy(&ty), "Path<&'a str>");
        let ty: Type = syn::parse_quote!(&mut std::sync::Mutex<(u8, Vec<u8>)>);
        assert_eq!(tidy(&ty), "&mut std::sync::Mutex<(u8, Vec<u8>)>");
    }

    #[test]
    fn a_plain_return_is_wrapped_and_a_result_is_not() {
        let analyze = |item: ItemFn, kind| analyze("on_startup", kind, item).unwrap();
        let plain = analyze(
            syn::parse_quote!(
                fn config() -> Config {
                    todo!()
                }
            ),
            Kind::Startup,
        );
        assert!(plain.wraps_in_provide());
        let fallible = analyze(
            syn::parse_quote!(
                fn config() -> io::Result<Config> {
                    todo!()
                }
            ),
            Kind::Startup,
        );
        assert!(!fallible.wraps_in_provide());
        let unit = analyze(
            syn::parse_quote!(
                fn run() {}
            ),
            Kind::Startup,
        );
        assert!(!unit.wraps_in_provide());
        let hook = analyze(
            syn::parse_quote!(
                fn stop() -> u8 {
                    1
                }
            ),
            Kind::Shutdown,
        );
        assert!(!hook.wraps_in_provide());
    }
}

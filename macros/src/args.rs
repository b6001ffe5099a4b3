//! The arguments of the attributes: none for the node attributes, the path for the method
//! attributes (`#[get("/users/{id}")]`), the method and path for `#[route(OPTIONS, "/x")]`;
//! after the path, a route's settings: `etag = f`, `last_modified = f`, `provides = [..]`.

use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, LitStr, Token};

/// Checks that a node attribute (`#[on_startup]`, ...) was given no arguments.
pub(crate) fn none(attribute: &str, args: TokenStream) -> syn::Result<()> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(syn::Error::new_spanned(
            args,
            format!(
                "`#[{attribute}]` takes no arguments: write `#[{attribute}]` on its own \
                 (to rename the node, call `.named(\"...\")` after registering it)"
            ),
        ))
    }
}

/// The arguments of a route attribute.
pub(crate) struct RouteArgs {
    /// The HTTP method, uppercase.
    pub(crate) method: String,
    /// The path pattern, as written.
    pub(crate) path: LitStr,
    /// The route's settings, in the order written.
    pub(crate) settings: Vec<RouteSetting>,
}

/// A route setting written after the path.
pub(crate) enum RouteSetting {
    /// `etag = todo_etag`: `App::etag`.
    ETag(Expr),
    /// `last_modified = todo_modified`: `App::last_modified`.
    LastModified(Expr),
    /// `provides = ["application/json", "text/csv"]`: `App::provides`.
    Provides(Vec<LitStr>),
}

const SETTINGS: &str = "`etag = f`, `last_modified = f` or `provides = [\"application/json\"]`";

/// Parses the settings after a route's path: `name = value`, separated by commas.
fn settings(input: ParseStream<'_>) -> syn::Result<Vec<RouteSetting>> {
    let mut settings = Vec::new();
    while !input.is_empty() {
        let name: Ident = input.parse()?;
        input.parse::<Token![=]>()?;
        let setting = match name.to_string().as_str() {
            "etag" => RouteSetting::ETag(input.parse()?),
            "last_modified" => RouteSetting::LastModified(input.parse()?),
            "provides" => {
                if !input.peek(syn::token::Bracket) {
                    return Err(input.error(
                        "`provides` takes a list of media types: \
                         `provides = [\"application/json\", \"text/csv\"]`",
                    ));
                }
                let content;
                syn::bracketed!(content in input);
                let types = content.parse_terminated(|input| input.parse::<LitStr>(), Token![,])?;
                RouteSetting::Provides(types.into_iter().collect())
            }
            other => {
                return Err(syn::Error::new_spanned(
                    &name,
                    format!("`{other}` is not a route setting: a route takes {SETTINGS}"),
                ))
            }
        };
        settings.push(setting);
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(settings)
}

/// Parses the path of a method attribute: `#[get("/users/{id}")]`.
pub(crate) fn method_route(
    attribute: &str,
    method: &str,
    args: TokenStream,
) -> syn::Result<RouteArgs> {
    let example = format!("`#[{attribute}(\"/users/{{id}}\")]`");
    if args.is_empty() {
        return Err(syn::Error::new(
            Span::call_site(),
            format!("`#[{attribute}]` needs the route's path: {example}"),
        ));
    }
    let parser = |input: ParseStream<'_>| {
        let (path, settings) = path_then_end(
            input,
            &example,
            &format!("`#[{attribute}]` takes only the route's path"),
        )?;
        Ok(RouteArgs {
            method: method.to_owned(),
            path,
            settings,
        })
    };
    parser.parse2(args)
}

/// Parses the method and path of `#[route(OPTIONS, "/x")]`.
pub(crate) fn any_route(args: TokenStream) -> syn::Result<RouteArgs> {
    const EXAMPLE: &str = "`#[route(OPTIONS, \"/users/{id}\")]`";
    if args.is_empty() {
        return Err(syn::Error::new(
            Span::call_site(),
            format!("`#[route]` needs a method and a path: {EXAMPLE}"),
        ));
    }
    let parser = |input: ParseStream<'_>| {
        if input.peek(LitStr) {
            return Err(input.error(format!(
                "`#[route]` takes the method first, as an uppercase word: {EXAMPLE}"
            )));
        }
        let method: Ident = input.parse().map_err(|error| {
            syn::Error::new(
                error.span(),
                format!("expected an HTTP method such as `OPTIONS`: {EXAMPLE}"),
            )
        })?;
        let name = method.to_string();
        if name.chars().any(|c| c.is_ascii_lowercase()) {
            return Err(syn::Error::new_spanned(
                &method,
                format!(
                    "HTTP methods are written in uppercase: `#[route({}, ...)]`",
                    name.to_ascii_uppercase()
                ),
            ));
        }
        if !input.peek(Token![,]) {
            return Err(input.error(format!(
                "expected `,` and the route's path after the method: {EXAMPLE}"
            )));
        }
        input.parse::<Token![,]>()?;
        let (path, settings) =
            path_then_end(input, EXAMPLE, "`#[route]` takes only a method and a path")?;
        Ok(RouteArgs {
            method: name,
            path,
            settings,
        })
    };
    parser.parse2(args)
}

/// Parses the route's path literal, an optional trailing comma, and the route's settings
/// (`etag = f`, ...); `only` says what the attribute takes, for the error on anything else
/// that follows.
fn path_then_end(
    input: ParseStream<'_>,
    example: &str,
    only: &str,
) -> syn::Result<(LitStr, Vec<RouteSetting>)> {
    let path: LitStr = input.parse().map_err(|error| {
        syn::Error::new(
            error.span(),
            format!("expected the route's path as a string literal: {example}"),
        )
    })?;
    input.parse::<Option<Token![,]>>()?;
    if input.peek(Ident) && input.peek2(Token![=]) {
        return Ok((path, settings(input)?));
    }
    if !input.is_empty() {
        let rest: TokenStream = input.parse()?;
        return Err(syn::Error::new_spanned(
            rest,
            format!("{only} and its settings ({SETTINGS}): {example}"),
        ));
    }
    Ok((path, Vec::new()))
}

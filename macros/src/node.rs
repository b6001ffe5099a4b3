//! The node attributes: `#[on_startup]`, `#[on_shutdown]`, `#[dependency]`, `#[lifespan]`,
//! `#[middleware]` and `#[background]`.
//!
//! They differ only in what they check and in what a plain returned `T` becomes, so one
//! expansion serves them all (see [`crate::function`]).

use proc_macro2::TokenStream;

use crate::exports::Exports;
use crate::function::{self, Errors, Kind, Output};

/// Expands `#[attribute]` on `item`.
pub(crate) fn expand(
    attribute: &str,
    kind: Kind,
    args: TokenStream,
    item: TokenStream,
) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    if let Err(error) = crate::args::none(attribute, args) {
        errors.push(error);
    }
    let function =
        function::parse(attribute, item).and_then(|item| function::analyze(attribute, kind, item));
    match function {
        Ok(function) => {
            errors.finish()?;
            Ok(function.expand(&Exports::find(), Output::Node))
        }
        Err(error) => {
            errors.push(error);
            errors.finish().map(|()| TokenStream::new())
        }
    }
}

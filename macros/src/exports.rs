//! The paths of everything the generated code names in `roadie`, defined in one place.
//!
//! The crate is found through `proc-macro-crate`, so a renamed dependency
//! (`server = { package = "roadie", ... }`) works. Inside roadie itself (its lib, tests and
//! doctests), `::roadie` resolves through the crate's `extern crate self as roadie;`.

use proc_macro2::{Span, TokenStream};
use proc_macro_crate::{crate_name, FoundCrate};
use quote::quote;
use syn::Ident;

/// Where `roadie` is, as the crate being expanded names it.
pub(crate) struct Exports {
    root: TokenStream,
}

impl Exports {
    /// Looks `roadie` up in the manifest of the crate being compiled.
    pub(crate) fn find() -> Self {
        Self::from_lookup(crate_name("roadie"))
    }

    /// The root path for a lookup's result: the dependency's own name, `::roadie` inside
    /// roadie, and `::roadie` when the manifest cannot tell (a re-export is then expected).
    fn from_lookup(found: Result<FoundCrate, proc_macro_crate::Error>) -> Self {
        let root = match found {
            Ok(FoundCrate::Name(name)) => {
                let name = Ident::new(&name, Span::call_site());
                quote!(::#name)
            }
            Ok(FoundCrate::Itself) | Err(_) => quote!(::roadie),
        };
        Self { root }
    }

    /// `roadie::Res`, the handle a `&T` parameter becomes.
    pub(crate) fn res(&self) -> TokenStream {
        let root = &self.root;
        quote!(#root::Res)
    }

    /// `roadie::extract::FromContext`, what every parameter but a route's body implements.
    pub(crate) fn extractor_trait(&self) -> TokenStream {
        let root = &self.root;
        quote!(#root::extract::FromContext)
    }

    /// `roadie::Res`, with every token at `span`: errors about a `&T` parameter's resource
    /// (not `Send + Sync`, say) then point at the parameter, not at the attribute.
    pub(crate) fn res_at(&self, span: Span) -> TokenStream {
        self.res()
            .into_iter()
            .map(|mut token| {
                token.set_span(span);
                token
            })
            .collect()
    }

    /// `roadie::Provide`, the wrapper of a plain returned `T`.
    pub(crate) fn provide(&self) -> TokenStream {
        let root = &self.root;
        quote!(#root::Provide)
    }

    /// `roadie::__private::Routed`, the future of an annotated route.
    pub(crate) fn routed(&self) -> TokenStream {
        let root = &self.root;
        quote!(#root::__private::Routed)
    }

    /// `roadie::App`, which the route settings of an attribute configure.
    pub(crate) fn app(&self) -> TokenStream {
        let root = &self.root;
        quote!(#root::App)
    }

    /// `roadie::__private::RouteInfo`, the method and path of an annotated route.
    pub(crate) fn route_info(&self) -> TokenStream {
        let root = &self.root;
        quote!(#root::__private::RouteInfo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renamed_dependency_is_named_by_its_new_name() {
        let exports = Exports::from_lookup(Ok(FoundCrate::Name("server".into())));
        assert_eq!(exports.res().to_string(), ":: server :: Res");
    }

    #[test]
    fn roadie_itself_and_an_unknown_manifest_use_the_absolute_path() {
        let itself = Exports::from_lookup(Ok(FoundCrate::Itself));
        assert_eq!(itself.provide().to_string(), ":: roadie :: Provide");
        let unknown = Exports::from_lookup(Err(proc_macro_crate::Error::CargoManifestDirNotSet));
        assert_eq!(
            unknown.routed().to_string(),
            ":: roadie :: __private :: Routed"
        );
    }
}

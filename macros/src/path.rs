//! Route paths, checked at compile time: `/users/{id}`, `/files/{*rest}`, `{{` and `}}` for
//! literal braces.

use syn::LitStr;

/// A parameter of a route path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathParam {
    /// Its name, without braces or `*`.
    pub(crate) name: String,
}

/// The parameters of a route path, or an error pointing at the literal that says what to fix.
pub(crate) fn params(path: &LitStr) -> syn::Result<Vec<PathParam>> {
    parse(&path.value()).map_err(|message| syn::Error::new_spanned(path, message))
}

/// Parses a path pattern; the error says what is wrong and what to write instead.
fn parse(path: &str) -> Result<Vec<PathParam>, String> {
    if !path.starts_with('/') {
        return Err(format!(
            "a route path starts with `/`: write \"/{}\"",
            path.trim_start_matches('/')
        ));
    }
    if let Some(at) = path.find(['?', '#']) {
        return Err(format!(
            "a route path has no query string or fragment: write \"{}\" and read the query with `Query<T>`",
            &path[..at]
        ));
    }
    let mut params: Vec<PathParam> = Vec::new();
    let mut chars = path.char_indices().peekable();
    while let Some((at, ch)) = chars.next() {
        match ch {
            '{' if chars.peek().map(|&(_, next)| next) == Some('{') => {
                chars.next();
            }
            '}' if chars.peek().map(|&(_, next)| next) == Some('}') => {
                chars.next();
            }
            '}' => {
                return Err(format!(
                    "`}}` at byte {at} closes no parameter: write `}}}}` for a literal brace"
                ));
            }
            '{' => {
                let mut name = String::new();
                let mut closed = false;
                for (_, ch) in chars.by_ref() {
                    match ch {
                        '}' => {
                            closed = true;
                            break;
                        }
                        '{' | '/' => break,
                        _ => name.push(ch),
                    }
                }
                if !closed {
                    return Err(format!(
                        "the parameter opened at byte {at} is not closed: write `{{name}}`, \
                         or `{{{{` for a literal brace"
                    ));
                }
                let catch_all = name.starts_with('*');
                let bare = name.trim_start_matches('*');
                if bare.is_empty() {
                    return Err(format!(
                        "a path parameter needs a name: write `{{{}id}}`",
                        if catch_all { "*" } else { "" }
                    ));
                }
                if catch_all && chars.peek().is_some() {
                    return Err(format!(
                        "the catch-all `{{{name}}}` takes the rest of the path, so it must end it"
                    ));
                }
                if params.iter().any(|param| param.name == bare) {
                    return Err(format!(
                        "the parameter `{{{bare}}}` appears twice: give each parameter its own name"
                    ));
                }
                params.push(PathParam {
                    name: bare.to_owned(),
                });
            }
            _ => {}
        }
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(path: &str) -> Vec<String> {
        parse(path)
            .unwrap()
            .into_iter()
            .map(|param| param.name)
            .collect()
    }

    #[test]
    fn reads_parameters_and_catch_alls() {
        assert_eq!(names("/"), Vec::<String>::new());
        assert_eq!(names("/users/{id}/posts/{post}"), ["id", "post"]);
        assert_eq!(names("/files/{*rest}"), ["rest"]);
        assert_eq!(names("/literal/{{braces}}"), Vec::<String>::new());
    }

    #[test]
    fn says_what_to_write_instead() {
        assert!(parse("users").unwrap_err().contains("write \"/users\""));
        assert!(parse("/users?page=1").unwrap_err().contains("\"/users\""));
        assert!(parse("/users/{id").unwrap_err().contains("not closed"));
        assert!(parse("/users/{id/x}").unwrap_err().contains("not closed"));
        assert!(parse("/users/}").unwrap_err().contains("`}}`"));
        assert!(parse("/users/{}").unwrap_err().contains("`{id}`"));
        assert!(parse("/files/{*}").unwrap_err().contains("`{*id}`"));
        assert!(parse("/files/{*rest}/x")
            .unwrap_err()
            .contains("must end it"));
        assert!(parse("/a/{id}/b/{id}").unwrap_err().contains("twice"));
    }
}

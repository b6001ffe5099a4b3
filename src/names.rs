//! Readable names for types and functions, used in diagnostics, DOT output and logs.

/// Locks `mutex`, even if a holder panicked: what it guards here (lists of tasks, the
/// container during the teardown) stays consistent across a panic, and shutdown must go on.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The name of `T` with module paths removed: `alloc::sync::Arc<my_app::Db>` reads `Arc<Db>`.
pub(crate) fn short_type_name<T: ?Sized>() -> &'static str {
    // Read at registration and at start, never on the request path; generic only in the
    // type name it reads.
    static_short(std::any::type_name::<T>())
}

/// The characters that end a path segment in a type name.
const DELIMITERS: [char; 10] = ['<', '>', ',', ' ', '(', ')', '[', ']', '&', ';'];

/// [`shorten`]ed, for the life of the program, without growing with each call: a name of one
/// path (`my_app::Db`) is a slice of `full` itself, and any other is shortened the first
/// time it is asked for and kept, once per name.
pub(crate) fn static_short(full: &'static str) -> &'static str {
    if !full.contains(DELIMITERS) {
        return last_segment(full);
    }
    static SHORT: std::sync::Mutex<std::collections::BTreeMap<&str, &str>> =
        std::sync::Mutex::new(std::collections::BTreeMap::new());
    lock(&SHORT)
        .entry(full)
        .or_insert_with(|| Box::leak(shorten(full).into_boxed_str()))
}

/// Removes the module path of every path segment in a type name.
pub(crate) fn shorten(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut segment = String::new();
    for ch in full.chars() {
        match ch {
            ch if DELIMITERS.contains(&ch) => {
                out.push_str(last_segment(&segment));
                segment.clear();
                out.push(ch);
            }
            _ => segment.push(ch),
        }
    }
    out.push_str(last_segment(&segment));
    out
}

fn last_segment(path: &str) -> &str {
    path.rsplit("::").next().unwrap_or(path)
}

/// The name of a node registered from a function or closure of type `F`.
///
/// A function item reads as its own name (`database`); a closure reads as
/// `closure in <enclosing fn>`, followed by `what` when given (for example the type it
/// provides), so that two closures in one function can be told apart.
pub(crate) fn callable_name<F>(what: Option<&str>) -> String {
    // Generic only in the type name it reads: the rest is compiled once, not per node.
    callable_name_of(std::any::type_name::<F>(), what)
}

/// [`callable_name`] for the function whose type is named `full` (by `type_name`).
pub(crate) fn callable_name_of(full: &'static str, what: Option<&str>) -> String {
    // A closure's path ends in `{{closure}}`; a function item declared inside an async fn or
    // a closure has `{{closure}}` earlier in its path (`tests::it::{{closure}}::database`) and
    // still reads as its own name.
    if full.ends_with("{{closure}}") {
        let before = full.split("::{{closure}}").next().unwrap_or(full);
        let parent = before.rsplit("::").next().unwrap_or(before);
        match what {
            Some(what) => format!("closure in {parent} ({what})"),
            None => format!("closure in {parent}"),
        }
    } else {
        // Strip generic arguments of a function item: `make::<u8>` stays readable.
        let without_generics = match full.find('<') {
            Some(at) => &full[..at],
            None => full,
        };
        let trimmed = without_generics.trim_end_matches("::");
        last_segment(trimmed).to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() {}

    #[test]
    fn shortens_nested_paths() {
        assert_eq!(shorten("alloc::sync::Arc<my_app::db::Pool>"), "Arc<Pool>");
        assert_eq!(
            shorten("core::option::Option<(u8, a::B)>"),
            "Option<(u8, B)>"
        );
    }

    #[test]
    fn a_short_name_is_made_once_per_name() {
        let plain = "my_app::db::Pool";
        assert_eq!(static_short(plain), "Pool");
        // A name of one path is a slice of the name itself: nothing is allocated.
        assert!(plain
            .as_bytes()
            .as_ptr_range()
            .contains(&static_short(plain).as_ptr()));
        let generic = "alloc::sync::Arc<my_app::db::Pool>";
        let first = static_short(generic);
        assert_eq!(first, "Arc<Pool>");
        // Asked again (each start of an app asks again), the same string comes back.
        assert_eq!(static_short(generic).as_ptr(), first.as_ptr());
    }

    #[test]
    fn names_function_items_and_closures() {
        assert_eq!(callable_name::<fn()>(None), "fn()");
        let f = database;
        fn name_of<F>(_: &F) -> String {
            callable_name::<F>(None)
        }
        assert_eq!(name_of(&f), "database");
        let c = || ();
        assert_eq!(name_of(&c), "closure in names_function_items_and_closures");
        let in_closure = || {
            fn inner() {}
            name_of(&inner)
        };
        assert_eq!(in_closure(), "inner");
    }
}

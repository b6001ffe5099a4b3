use roadie::prelude::*;

#[on_startup]
fn make<T: Default>() -> T {
    T::default()
}

#[on_shutdown]
fn close<'a>(name: &'a String) {
    let _ = name;
}

#[dependency]
fn describe(value: impl std::fmt::Display) -> String {
    value.to_string()
}

fn main() {}

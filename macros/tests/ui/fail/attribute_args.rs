use roadie::prelude::*;

#[on_startup(name = "config")]
fn config() -> u8 {
    1
}

#[get]
async fn missing_path() {}

#[post(users)]
async fn not_a_literal() {}

#[put("/users", "/people")]
async fn two_paths() {}

#[route("/users")]
async fn no_method() {}

#[route(options, "/users")]
async fn lowercase_method() {}

#[on_shutdown]
struct NotAFunction;

fn main() {}

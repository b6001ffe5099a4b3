//! A tiny server: `cargo run --example serve`, then `curl localhost:8080/hello/you`.
//!
//! Ctrl-C (or SIGTERM) stops it gracefully: requests in flight finish, then the shutdown
//! hook prints its line. A failed start prints the error and exits with a non-zero code.
//! `ADDR` overrides the address, `GREETING` the greeting.

use std::convert::Infallible;
use std::process::ExitCode;

use roadie::prelude::*;

struct Greeting(String);

fn greeting() -> Result<Greeting, Infallible> {
    Ok(Greeting(
        std::env::var("GREETING").unwrap_or_else(|_| "hello".to_owned()),
    ))
}

async fn hello(Path(who): Path<String>, greeting: Res<Greeting>) -> String {
    format!("{} {who}\n", greeting.0)
}

fn goodbye(greeting: Res<Greeting>) {
    println!("shutdown hook: {} no more", greeting.0);
}

#[tokio::main]
async fn main() -> ExitCode {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let app = App::new()
        .readiness("/ready")
        .on_startup(greeting)
        .on_shutdown(goodbye)
        .get("/hello/{who}", hello);
    println!("serving on http://{addr}");
    match app.serve(addr).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

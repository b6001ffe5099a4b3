use roadie::prelude::*;

struct Pool;

#[get("/")]
fn index() -> &'static str {
    "sync"
}

#[lifespan]
fn pool(lifespan: Lifespan<Pool>) {
    let _ = lifespan;
}

#[on_startup]
unsafe fn dangerous() {}

#[lifespan]
async fn no_handle(_pool: &Pool) {}

fn main() {}

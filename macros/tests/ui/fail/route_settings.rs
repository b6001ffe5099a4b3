use roadie::prelude::*;

async fn todo_etag() -> Option<ETag> {
    None
}

#[get("/todos", cache = todo_etag)]
async fn unknown_setting() {}

#[get("/todos", provides = "text/csv")]
async fn provides_not_a_list() {}

#[get("/todos", etag = todo_etag)]
async fn fine() {}

fn main() {
    let _ = App::new().route(fine);
}

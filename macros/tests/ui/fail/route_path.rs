use roadie::prelude::*;

#[get("users")]
async fn no_slash() {}

#[get("/users/{id")]
async fn unclosed(Path(id): Path<u64>) -> String {
    id.to_string()
}

#[get("/users/{}")]
async fn unnamed() {}

#[get("/files/{*rest}/raw")]
async fn catch_all_in_the_middle(Path(rest): Path<String>) -> String {
    rest
}

#[get("/a/{id}/b/{id}")]
async fn twice(Path(id): Path<u64>) -> String {
    id.to_string()
}

fn main() {}

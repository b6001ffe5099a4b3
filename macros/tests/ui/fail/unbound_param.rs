use roadie::prelude::*;

struct Database;

#[get("/users/{id}")]
async fn no_path_extractor(_db: &Database) -> &'static str {
    "who?"
}

#[get("/users/{id}/posts/{post}")]
async fn too_few(Path(id): Path<u64>) -> String {
    id.to_string()
}

#[get("/users/{id}")]
async fn too_many(Path((id, post)): Path<(u64, u64)>) -> String {
    format!("{id} {post}")
}

#[delete("/users")]
async fn no_parameters(Path(id): Path<u64>) -> String {
    id.to_string()
}

fn main() {}

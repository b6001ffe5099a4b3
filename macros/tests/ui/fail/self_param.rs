use roadie::prelude::*;

struct Database;

impl Database {
    #[on_shutdown]
    async fn close(&self) {}
}

fn main() {}

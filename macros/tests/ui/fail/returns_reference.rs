use roadie::prelude::*;

struct Config {
    url: String,
}

#[on_startup]
fn url(config: &Config) -> &str {
    &config.url
}

#[get("/url")]
async fn show(config: &Config) -> &String {
    &config.url
}

fn main() {}

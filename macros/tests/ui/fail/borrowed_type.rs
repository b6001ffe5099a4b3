use roadie::prelude::*;

struct Settings<'a> {
    name: &'a str,
}

#[on_startup]
fn name(settings: &Settings<'_>) -> String {
    settings.name.to_owned()
}

#[get("/files/{name}")]
async fn file(Path(name): Path<&str>) -> String {
    name.to_owned()
}

#[on_shutdown]
fn forever(settings: &'static String) {
    let _ = settings;
}

fn main() {}

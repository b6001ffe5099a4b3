use roadie::prelude::*;

struct Cache;

#[background]
fn refresh(_cache: &Cache) {}

#[background]
async fn borrowed(cache: &mut Cache) {
    let _ = cache;
}

fn main() {}

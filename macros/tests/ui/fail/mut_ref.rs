use roadie::prelude::*;

struct Counter(u64);
struct Total(u64);

#[on_startup]
fn total(counter: &mut Counter) -> Total {
    counter.0 += 1;
    Total(counter.0)
}

#[get("/count")]
async fn count(counter: Option<&mut Counter>) -> String {
    format!("{}", counter.map_or(0, |c| c.0))
}

fn main() {}

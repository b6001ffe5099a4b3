use roadie::prelude::*;

struct Sessions;

#[middleware]
fn not_async(request: Request, next: Next) -> Response {
    let _ = (request, next);
    StatusCode::OK.into_response()
}

#[middleware]
async fn next_first(next: Next, request: Request) -> Response {
    next.run(request).await
}

#[middleware]
async fn no_next(request: Request, _sessions: &Sessions) -> Response {
    let _ = request;
    StatusCode::OK.into_response()
}

fn main() {}

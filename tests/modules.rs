//! Apps built from modules: `App::merge` and `App::nest` join one graph.
//!
//! Validation, order, rollback and teardown work across modules exactly as inside one app;
//! a nested module's lifespans run; node names say which module they came from; conflicts
//! across modules name both modules.

use std::convert::Infallible;

use roadie::prelude::*;

mod support;
use roadie::{Problem, StartupError};
use support::{Failed, Log};

fn problems(error: StartupError) -> Vec<Problem> {
    error.problems().to_vec()
}

// ---- two modules: users owns the pool, orders builds on it ----

struct Pool {
    name: &'static str,
}
struct OrderRepo {
    pool: &'static str,
}
struct Mailer;

fn pool(log: Res<Log>) -> Result<Pool, Infallible> {
    log.push("start pool");
    Ok(Pool { name: "users-pool" })
}

async fn mailer(log: Res<Log>, lifespan: Lifespan<Mailer>) -> Result<(), Infallible> {
    log.push("setup mailer");
    lifespan.ready(Mailer).await;
    log.push("teardown mailer");
    Ok(())
}

fn close_pool(_pool: Res<Pool>, log: Res<Log>) {
    log.push("close pool");
}

async fn get_user(Path(id): Path<u64>, pool: Res<Pool>) -> String {
    format!("user {id} from {}", pool.name)
}

async fn users_index() -> &'static str {
    "users index"
}

fn users() -> App {
    App::module("users")
        .on_startup(pool)
        .lifespan(mailer)
        .on_shutdown(close_pool)
        .get("/", users_index)
        .get("/users/{id}", get_user)
}

fn order_repo(pool: Res<Pool>, log: Res<Log>) -> Result<OrderRepo, Infallible> {
    log.push("start order_repo");
    Ok(OrderRepo { pool: pool.name })
}

async fn archive(log: Res<Log>, lifespan: Lifespan<()>) -> Result<(), Infallible> {
    log.push("setup archive");
    lifespan.ready(()).await;
    log.push("teardown archive");
    Ok(())
}

fn flush_orders(_repo: Res<OrderRepo>, log: Res<Log>) {
    log.push("flush orders");
}

async fn get_order(Path(id): Path<u64>, repo: Res<OrderRepo>, _mailer: Res<Mailer>) -> String {
    format!("order {id} via {}", repo.pool)
}

fn orders() -> App {
    App::module("orders")
        .on_startup(order_repo)
        .lifespan(archive)
        .on_shutdown(flush_orders)
        .get("/orders/{id}", get_order)
}

fn app(log: &Log) -> App {
    // `orders` comes first, yet needs `users`' pool: the graph, not the order, decides.
    App::new()
        .on_startup(roadie::value(log.clone()))
        .named("log")
        .nest("/api", orders())
        .nest("/api", users())
}

#[tokio::test]
async fn a_provider_in_one_module_uses_a_resource_of_another() {
    let log = Log::default();
    let app = app(&log);
    let response = app.execute(Request::get("/api/orders/7")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text(), "order 7 via users-pool");
    assert_eq!(
        log.take(),
        [
            "start pool",
            "start order_repo",
            "setup archive",
            "setup mailer"
        ]
    );
}

#[tokio::test]
async fn startup_order_across_modules_is_the_same_as_inside_one() {
    let log = Log::default();
    assert_eq!(
        app(&log).startup_order().unwrap(),
        [
            "log",
            "users::pool",
            "orders::order_repo",
            "orders::archive",
            "users::mailer"
        ]
    );

    // The same nodes registered on one app, in the same order, start in the same order.
    let flat = App::new()
        .on_startup(roadie::value(log.clone()))
        .named("log")
        .on_startup(order_repo)
        .lifespan(archive)
        .on_shutdown(flush_orders)
        .on_startup(pool)
        .lifespan(mailer)
        .on_shutdown(close_pool);
    assert_eq!(
        flat.startup_order().unwrap(),
        ["log", "pool", "order_repo", "archive", "mailer"]
    );
}

#[tokio::test]
async fn teardown_runs_across_modules_exactly_as_inside_one() {
    let log = Log::default();
    let app = app(&log);
    let running = app.start().await.unwrap();
    log.take();
    running.shutdown().await.unwrap();
    // Lifespans in reverse start order, then hooks in registration order (orders was
    // registered first).
    assert_eq!(
        log.take(),
        [
            "teardown mailer",
            "teardown archive",
            "flush orders",
            "close pool"
        ]
    );
}

#[tokio::test]
async fn a_failure_in_a_module_rolls_back_what_other_modules_started() {
    let log = Log::default();
    struct Gateway;
    // Needs both modules' resources, so it starts last.
    fn gateway(_repo: Res<OrderRepo>, _mailer: Res<Mailer>) -> Result<Gateway, Failed> {
        Err(Failed::new("the payment provider is unreachable"))
    }
    let payments = App::module("payments").on_startup(gateway);
    let app = app(&log).merge(payments);
    let error = app.start().await.unwrap_err();
    assert_eq!(error.failed_node(), Some("payments::gateway"));
    assert!(error
        .to_string()
        .contains("the payment provider is unreachable"));
    assert!(error.rollback().is_empty());
    assert_eq!(
        log.take(),
        [
            "start pool",
            "start order_repo",
            "setup archive",
            "setup mailer",
            // payments fails here: teardown as inside one app
            "teardown mailer",
            "teardown archive",
            "flush orders",
            "close pool"
        ]
    );
}

#[tokio::test]
async fn a_failure_in_a_module_stops_before_the_later_modules_start() {
    let log = Log::default();
    async fn broken_pool(log: Res<Log>, lifespan: Lifespan<Pool>) -> Result<(), Failed> {
        log.push("setup broken pool");
        drop(lifespan);
        Err(Failed::new("no database"))
    }
    let users = App::module("users")
        .lifespan(broken_pool)
        .on_shutdown(close_pool);
    let orders = App::module("orders")
        .on_startup(order_repo)
        .lifespan(archive)
        .on_shutdown(flush_orders);
    let app = App::new()
        .on_startup(roadie::value(log.clone()))
        .merge(users)
        .merge(orders);
    let error = app.start().await.unwrap_err();
    assert_eq!(error.failed_node(), Some("users::broken_pool"));
    assert!(error
        .to_string()
        .contains("`users::broken_pool` failed during startup: no database"));
    // Neither orders' provider (it needs the pool) nor its lifespan ran; no hook has its
    // resources, so none runs.
    assert_eq!(log.take(), ["setup broken pool"]);
}

#[tokio::test]
async fn a_nested_modules_lifespan_sets_up_and_tears_down() {
    let log = Log::default();
    struct Cache(&'static str);
    async fn cache(log: Res<Log>, lifespan: Lifespan<Cache>) -> Result<(), Infallible> {
        log.push("cache setup");
        lifespan.ready(Cache("warm")).await;
        log.push("cache teardown");
        Ok(())
    }
    async fn read(cache: Res<Cache>) -> &'static str {
        cache.0
    }
    let module = App::module("cache").lifespan(cache).get("/", read);
    let app = App::new()
        .on_startup(roadie::value(log.clone()))
        .nest("/cache", module);

    let response = app.execute(Request::get("/cache")).await;
    assert_eq!(response.text(), "warm");
    assert_eq!(log.take(), ["cache setup"]);
    app.shutdown().await.unwrap();
    assert_eq!(log.take(), ["cache teardown"]);
}

#[tokio::test]
async fn modules_nest_inside_modules() {
    let log = Log::default();
    let api = App::module("api").nest("/v1", users());
    let app = App::new()
        .on_startup(roadie::value(log.clone()))
        .named("log")
        .nest("/api", api);
    assert_eq!(
        app.startup_order().unwrap(),
        ["log", "api::users::pool", "api::users::mailer"]
    );
    let response = app.execute(Request::get("/api/v1/users/3")).await;
    assert_eq!(response.text(), "user 3 from users-pool");
    assert_eq!(
        app.execute(Request::get("/api/v1")).await.text(),
        "users index"
    );
}

#[tokio::test]
async fn request_scoped_dependencies_cross_modules() {
    struct Session(u64);
    let auth =
        App::module("auth").dependency(|Path(id): Path<u64>| Ok::<_, Infallible>(Session(id)));
    let profile = App::module("profile").get("/profile/{id}", |session: Dep<Session>| async move {
        format!("session {}", session.0)
    });
    let app = App::new().merge(auth).nest("/me", profile);
    assert_eq!(
        app.execute(Request::get("/me/profile/9")).await.text(),
        "session 9"
    );
}

#[tokio::test]
async fn nested_routes_answer_under_the_prefix() {
    let log = Log::default();
    let app = app(&log);
    let user = app.execute(Request::get("/api/users/1")).await;
    assert_eq!(user.status(), 200);
    assert_eq!(user.text(), "user 1 from users-pool");
    // The nested `/` answers at the prefix itself.
    let index = app.execute(Request::get("/api")).await;
    assert_eq!(index.status(), 200);
    assert_eq!(index.text(), "users index");
    // Not without the prefix.
    assert_eq!(app.execute(Request::get("/users/1")).await.status(), 404);
    assert_eq!(app.execute(Request::get("/")).await.status(), 404);
    // Methods still apply under the prefix.
    let post = app.execute(Request::post("/api/users/1")).await;
    assert_eq!(post.status(), 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

#[tokio::test]
async fn merge_keeps_routes_where_they_are_and_nest_at_slash_is_merge() {
    let log = Log::default();
    let merged = App::new()
        .on_startup(roadie::value(log.clone()))
        .merge(users());
    assert_eq!(merged.execute(Request::get("/users/2")).await.status(), 200);
    assert_eq!(
        merged.execute(Request::get("/")).await.text(),
        "users index"
    );

    let nested_at_root = App::new()
        .on_startup(roadie::value(log.clone()))
        .nest("/", users());
    assert_eq!(
        nested_at_root
            .execute(Request::get("/users/2"))
            .await
            .status(),
        200
    );
    assert_eq!(
        nested_at_root.execute(Request::get("/")).await.text(),
        "users index"
    );
}

#[tokio::test]
async fn node_names_say_which_module() {
    let log = Log::default();
    let app = app(&log);
    let order = app.startup_order().unwrap();
    assert!(order.contains(&"users::pool".to_owned()));

    let dot = app.to_dot();
    assert!(dot.contains("users::pool"), "{dot}");
    assert!(dot.contains("orders::order_repo"), "{dot}");
    assert!(dot.contains("users::close_pool"), "{dot}");
    assert!(
        dot.contains("GET /api/users/{id} (users::get_user)"),
        "{dot}"
    );

    // In errors: who needs what, named with its module.
    let without_users = App::new()
        .on_startup(roadie::value(log.clone()))
        .nest("/api", orders());
    let problems = problems(without_users.validate().unwrap_err());
    assert!(problems.contains(&Problem::MissingResource {
        ty: "Pool",
        needed_by: "orders::order_repo".to_owned()
    }));
    assert!(problems.contains(&Problem::MissingResource {
        ty: "Mailer",
        needed_by: "GET /api/orders/{id} (orders::get_order)".to_owned()
    }));
}

#[tokio::test]
async fn a_cycle_across_two_modules_is_reported_with_its_path() {
    struct A;
    struct B;
    fn a(_b: Res<B>) -> Result<A, Infallible> {
        Ok(A)
    }
    fn b(_a: Res<A>) -> Result<B, Infallible> {
        Ok(B)
    }
    let app = App::new()
        .merge(App::module("users").on_startup(a))
        .merge(App::module("orders").on_startup(b));
    let error = app.validate().unwrap_err();
    assert_eq!(
        problems(error.clone()),
        [Problem::Cycle {
            path: vec!["users::a".into(), "orders::b".into(), "users::a".into()]
        }]
    );
    assert!(error
        .to_string()
        .contains("dependency cycle: users::a -> orders::b -> users::a"));
    // And nothing ran.
    assert!(app.start().await.is_err());
}

#[tokio::test]
async fn two_providers_of_one_type_across_modules_name_both_modules() {
    let log = Log::default();
    fn other_pool() -> Result<Pool, Infallible> {
        Ok(Pool { name: "billing" })
    }
    let billing = App::module("billing").on_startup(other_pool);
    let app = app(&log).merge(billing);
    let error = app.validate().unwrap_err();
    assert_eq!(
        problems(error.clone()),
        [Problem::Duplicate {
            ty: "Pool",
            first: "users::pool".into(),
            second: "billing::other_pool".into(),
            request_scoped: false
        }]
    );
    assert!(error
        .to_string()
        .contains("two providers of `Pool`: `users::pool` and `billing::other_pool`"));
}

#[tokio::test]
async fn two_request_scoped_dependencies_of_one_type_across_modules_name_both_modules() {
    fn token() -> Result<u32, Infallible> {
        Ok(1)
    }
    let app = App::new()
        .merge(App::module("a").dependency(token))
        .merge(App::module("b").dependency(token));
    assert_eq!(
        problems(app.validate().unwrap_err()),
        [Problem::Duplicate {
            ty: "u32",
            first: "a::token".into(),
            second: "b::token".into(),
            request_scoped: true
        }]
    );
}

async fn list_users() -> &'static str {
    "users"
}
async fn list_orders() -> &'static str {
    "orders"
}

#[tokio::test]
async fn the_same_route_in_two_modules_names_both_handlers() {
    let app = App::new()
        .nest("/api", App::module("users").get("/items", list_users))
        .nest("/api", App::module("orders").get("/items", list_orders));
    let error = app.validate().unwrap_err();
    let text = error.to_string();
    assert!(text.contains("route `GET /api/items`"), "{text}");
    assert!(text.contains("`users::list_users`"), "{text}");
    assert!(text.contains("`orders::list_orders`"), "{text}");
    // Different methods on one path are no conflict.
    let ok = App::new()
        .nest("/api", App::module("users").get("/items", list_users))
        .nest("/api", App::module("orders").post("/items", list_orders));
    ok.validate().unwrap();
    assert_eq!(
        ok.execute(Request::post("/api/items")).await.text(),
        "orders"
    );
}

#[tokio::test]
async fn overlapping_route_patterns_in_two_modules_name_both_handlers() {
    async fn by_id(Path(_id): Path<u64>) -> &'static str {
        "id"
    }
    async fn by_name(Path(_name): Path<String>) -> &'static str {
        "name"
    }
    let app = App::new()
        .nest("/api", App::module("users").get("/{id}", by_id))
        .nest("/api", App::module("orders").get("/{name}", by_name));
    let error = app.validate().unwrap_err();
    let text = error.to_string();
    assert!(text.contains("`orders::by_name`"), "{text}");
    assert!(text.contains("`users::by_id`"), "{text}");
}

#[tokio::test]
async fn a_nested_index_conflicting_with_the_parents_route_names_both() {
    let app = App::new()
        .get("/api", list_orders)
        .nest("/api", App::module("users").get("/", list_users));
    let text = app.validate().unwrap_err().to_string();
    assert!(text.contains("route `GET /api`"), "{text}");
    assert!(
        text.contains("`list_orders`") && text.contains("`users::list_users`"),
        "{text}"
    );
}

#[tokio::test]
async fn an_invalid_prefix_is_an_error() {
    for prefix in ["api", "/api/", ""] {
        let app = App::new().nest(prefix, App::module("users").get("/items", list_users));
        let problems = problems(app.validate().unwrap_err());
        assert_eq!(problems.len(), 1, "{prefix:?}: {problems:?}");
        let text = problems[0].to_string();
        assert!(text.contains(&format!("`{prefix}`")), "{text}");
        assert!(text.contains("starts with `/`"), "{text}");
        // Nothing starts: the app answers 503.
        assert_eq!(app.execute(Request::get("/items")).await.status(), 503);
    }
}

#[tokio::test]
async fn a_nested_route_without_its_leading_slash_is_an_error() {
    let app = App::new().nest("/api", App::module("users").get("items", list_users));
    let problems = problems(app.validate().unwrap_err());
    assert_eq!(problems.len(), 1, "{problems:?}");
    let text = problems[0].to_string();
    assert!(
        text.contains("route `GET items`: a path must start with `/`"),
        "{text}"
    );
}

#[tokio::test]
async fn a_modules_own_problems_come_along() {
    struct Missing;
    let module = App::module("users").on_startup(|_m: Res<Missing>| Ok::<_, Infallible>(1u8));
    let problems = problems(App::new().merge(module).validate().unwrap_err());
    assert_eq!(problems.len(), 1);
    assert!(
        matches!(&problems[0], Problem::MissingResource { ty: "Missing", needed_by } if needed_by.starts_with("users::")),
        "{problems:?}"
    );
}

#[tokio::test]
async fn merging_leaves_the_module_usable_on_its_own() {
    let log = Log::default();
    let module = users();
    let _app = App::new()
        .on_startup(roadie::value(log.clone()))
        .merge(module.clone());
    // The module alone still lacks its log, and says so with its unqualified names.
    let problems = problems(module.validate().unwrap_err());
    assert!(problems.contains(&Problem::MissingResource {
        ty: "Log",
        needed_by: "pool".into()
    }));
}

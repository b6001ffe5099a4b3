//! The provider graph: validation before anything runs, with every problem reported at once
//! and exact texts; the startup order; and the DOT export.

mod support;

use std::convert::Infallible;

use roadie::prelude::*;
use roadie::{Problem, StartupError};
use support::{Log, A, B, C};

struct Config;
struct Database;
struct Cache;
struct Missing;
struct Conn;

fn config() -> Result<Config, Infallible> {
    Ok(Config)
}

async fn database(_config: Res<Config>) -> Result<Database, Infallible> {
    Ok(Database)
}

fn problems(error: &StartupError) -> Vec<String> {
    error.problems().iter().map(ToString::to_string).collect()
}

#[test]
fn without_dependencies_the_order_is_registration_order() {
    let app = App::new()
        .on_startup(|| Ok::<_, Infallible>(3u8))
        .named("third")
        .on_startup(|| Ok::<_, Infallible>(1u16))
        .named("first")
        .on_startup(|| Ok::<_, Infallible>(2u32))
        .named("second");
    assert_eq!(app.startup_order().unwrap(), ["third", "first", "second"]);
}

#[test]
fn dependencies_come_first_whatever_the_registration_order() {
    let app = App::new()
        .on_startup(|_: Res<Database>, _: Res<Config>| Ok::<_, Infallible>(Cache))
        .named("cache")
        .on_startup(database)
        .on_startup(config);
    assert_eq!(
        app.startup_order().unwrap(),
        ["config", "database", "cache"]
    );
}

#[test]
fn where_the_graph_leaves_a_choice_providers_start_before_lifespans() {
    let app = App::new()
        .lifespan(|l: Lifespan<A>| async move {
            let _ = l;
            Ok::<_, Infallible>(())
        })
        .named("lifespan a")
        .on_startup(|| Ok::<_, Infallible>(1u8))
        .named("provider one")
        // A lifespan that needs a provider registered after it still waits for it.
        .lifespan(|l: Lifespan<B>, _: Res<u16>| async move {
            let _ = l;
            Ok::<_, Infallible>(())
        })
        .named("lifespan b")
        .on_startup(|| Ok::<_, Infallible>(2u16))
        .named("provider two");
    assert_eq!(
        app.startup_order().unwrap(),
        ["provider one", "provider two", "lifespan a", "lifespan b"]
    );
}

#[test]
fn a_provider_that_needs_a_lifespan_waits_for_it() {
    let app = App::new()
        .on_startup(|_: Res<A>| Ok::<_, Infallible>(1u8))
        .named("uses a")
        .lifespan(|l: Lifespan<A>| async move {
            let _ = l;
            Ok::<_, Infallible>(())
        })
        .named("a")
        .on_startup(|| Ok::<_, Infallible>(2u16))
        .named("independent");
    assert_eq!(app.startup_order().unwrap(), ["independent", "a", "uses a"]);
}

#[test]
fn a_node_freed_late_still_goes_before_later_registered_ones() {
    // "uses a" (registered first) becomes ready only once "a" has started; at that point it
    // is the earliest-registered node ready, so it goes before "y" and "z".
    let app = App::new()
        .on_startup(|_: Res<Config>| Ok::<_, Infallible>(1u8))
        .named("uses a")
        .on_startup(|| Ok::<_, Infallible>(Config))
        .named("a")
        .on_startup(|| Ok::<_, Infallible>(2u16))
        .named("y")
        .on_startup(|| Ok::<_, Infallible>(3u32))
        .named("z");
    assert_eq!(app.startup_order().unwrap(), ["a", "uses a", "y", "z"]);
}

#[test]
fn a_node_that_asks_for_one_type_twice_waits_for_it_once() {
    let app = App::new()
        .on_startup(|_: Res<Config>, _: Option<Res<Config>>, _: Res<Config>| {
            Ok::<_, Infallible>(1u8)
        })
        .named("twice")
        .on_startup(|| Ok::<_, Infallible>(Config))
        .named("a");
    assert_eq!(app.startup_order().unwrap(), ["a", "twice"]);
    // One edge, however many parameters ask.
    assert_eq!(app.to_dot().matches(" -> ").count(), 1);
    assert!(app.to_dot().contains("n1 -> n0 [label=\"Config\"];"));
}

#[test]
fn a_wide_fan_registered_before_its_root_starts_in_registration_order() {
    // 5,000 leaves wait for a root registered after them; once it starts, all are ready at
    // once and go in registration order.
    let mut app = App::new();
    for i in 0..5_000u32 {
        app = app
            .on_startup(|_: Res<Config>| {})
            .named(format!("leaf {i}"));
    }
    app = app.on_startup(|| Ok::<_, Infallible>(Config)).named("root");
    let order = app.startup_order().unwrap();
    assert_eq!(order.len(), 5_001);
    assert_eq!(order[0], "root");
    assert!(order[1..]
        .iter()
        .enumerate()
        .all(|(i, name)| *name == format!("leaf {i}")));
}

#[tokio::test]
async fn the_start_follows_the_order_and_runs_nodes_nobody_needs() {
    let log = Log::new();
    let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
    let app = App::new()
        .on_startup(move |_: Res<u8>| {
            l1.push("needs u8");
            Ok::<_, Infallible>(1u16)
        })
        .on_startup(move || {
            l2.push("provides u8");
            Ok::<_, Infallible>(1u8)
        })
        .on_startup(move || l3.push("needed by nobody"));
    let running = app.start().await.unwrap();
    assert_eq!(log.take(), ["provides u8", "needs u8", "needed by nobody"]);
    running.shutdown().await.unwrap();
}

#[test]
fn function_items_are_named_after_themselves_and_named_overrides() {
    let app = App::new()
        .on_startup(config)
        .on_startup(database)
        .named("db");
    assert_eq!(app.startup_order().unwrap(), ["config", "db"]);
}

#[test]
fn a_missing_type_names_the_type_and_who_needs_it() {
    let app = App::new()
        .on_startup(|_: Res<Missing>| Ok::<_, Infallible>(Cache))
        .named("cache");
    let error = app.validate().unwrap_err();
    assert_eq!(
        error.problems(),
        [Problem::MissingResource {
            ty: "Missing",
            needed_by: "cache".into()
        }]
    );
    assert_eq!(
        error.to_string(),
        "the app is not valid: `cache` needs the resource `Missing`, but nothing provides it: \
         register a provider of `Missing` with `App::on_startup` or `App::lifespan`, or ask \
         for `Option<Res<Missing>>` if it is optional"
    );
}

#[test]
fn an_optional_resource_is_not_a_missing_one() {
    let app = App::new().on_startup(|_: Option<Res<Missing>>| Ok::<_, Infallible>(Cache));
    app.validate().unwrap();
}

#[test]
fn a_cycle_is_printed_as_its_full_path() {
    let app = App::new()
        .on_startup(|_: Res<Database>| Ok::<_, Infallible>(Config))
        .named("config")
        .on_startup(|_: Res<Config>| Ok::<_, Infallible>(Database))
        .named("database");
    let error = app.validate().unwrap_err();
    assert_eq!(
        error.to_string(),
        "the app is not valid: dependency cycle: config -> database -> config; break the loop \
         so that one of them no longer needs the next"
    );
}

#[test]
fn a_node_that_needs_its_own_value_is_a_cycle_of_one() {
    let app = App::new()
        .on_startup(|_: Res<C>| Ok::<_, Infallible>(1u8))
        .named("a")
        .on_startup(|_: Res<i8>| Ok::<_, Infallible>(5i8))
        .named("itself");
    assert_eq!(
        app.validate().unwrap_err().problems(),
        [
            Problem::MissingResource {
                ty: "C",
                needed_by: "a".into()
            },
            Problem::Cycle {
                path: vec!["itself".into(), "itself".into()]
            }
        ]
    );
}

#[test]
fn a_three_node_cycle_has_its_three_names() {
    let app = App::new()
        .on_startup(|_: Res<u32>| Ok::<_, Infallible>(1u8))
        .named("a")
        .on_startup(|_: Res<u8>| Ok::<_, Infallible>(2u16))
        .named("b")
        .on_startup(|_: Res<u16>| Ok::<_, Infallible>(3u32))
        .named("c");
    assert_eq!(
        app.validate().unwrap_err().problems(),
        [Problem::Cycle {
            path: vec!["a".into(), "c".into(), "b".into(), "a".into()]
        }]
    );
}

#[test]
fn two_providers_of_one_type_name_both() {
    let app = App::new()
        .on_startup(config)
        .on_startup(|| Ok::<_, Infallible>(Config))
        .named("test config");
    assert_eq!(
        app.validate().unwrap_err().to_string(),
        "the app is not valid: two providers of `Config`: `config` and `test config`; keep \
         one, or use `App::replace` to swap one for the other"
    );
}

#[test]
fn a_provider_and_a_lifespan_of_one_type_are_two_providers() {
    let app = App::new()
        .on_startup(config)
        .lifespan(|l: Lifespan<Config>| async move {
            let _ = l;
            Ok::<_, Infallible>(())
        })
        .named("config lifespan");
    assert_eq!(
        app.validate().unwrap_err().problems(),
        [Problem::Duplicate {
            ty: "Config",
            first: "config".into(),
            second: "config lifespan".into(),
            request_scoped: false
        }]
    );
}

#[test]
fn a_provider_asking_for_a_request_scoped_dependency_is_a_scope_violation() {
    let app = App::new()
        .dependency(|| Ok::<_, Infallible>(Conn))
        .on_startup(|_: Dep<Conn>| Ok::<_, Infallible>(Cache))
        .named("cache");
    assert_eq!(
        app.validate().unwrap_err().to_string(),
        "the app is not valid: `cache` asks for `Dep<Conn>`: a session-scoped value cannot hold \
         a request-scoped one; make it a resource (`App::on_startup`), or make the asker a \
         request-scoped dependency (`App::dependency`)"
    );
}

#[test]
fn a_hook_asking_for_a_dependency_or_a_missing_resource_fails_validation() {
    let app = App::new()
        .dependency(|| Ok::<_, Infallible>(Conn))
        .on_shutdown(|_: Dep<Conn>| {})
        .named("close conn")
        .on_shutdown(|_: Res<Missing>| {})
        .named("close missing");
    let texts = problems(&app.validate().unwrap_err());
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[0].starts_with(
        "`close conn` asks for `Dep<Conn>`: a shutdown hook runs outside any request"
    ));
    assert!(texts[1].starts_with("`close missing` needs the resource `Missing`"));
}

#[test]
fn a_handler_needing_a_missing_resource_fails_validation_not_the_request() {
    let app = App::new().get("/", |_: Res<Missing>| async { "never" });
    let error = app.validate().unwrap_err();
    assert!(matches!(
        error.problems(),
        [Problem::MissingResource { ty: "Missing", .. }]
    ));
}

#[tokio::test]
async fn every_problem_is_reported_at_once_and_nothing_runs() {
    let log = Log::new();
    let l = log.clone();
    let app = App::new()
        .on_startup(move || {
            l.push("ran");
            Ok::<_, Infallible>(1u8)
        })
        .named("valid")
        .on_startup(|_: Res<Missing>| Ok::<_, Infallible>(Cache))
        .named("cache")
        .on_startup(|| Ok::<_, Infallible>(Cache))
        .named("cache again")
        .on_startup(|_: Res<Database>| Ok::<_, Infallible>(Config))
        .named("config")
        .on_startup(|_: Res<Config>| Ok::<_, Infallible>(Database))
        .named("database");
    let error = app.start().await.unwrap_err();
    assert!(matches!(error, StartupError::Invalid(_)));
    assert_eq!(
        problems(&error),
        [
            "two providers of `Cache`: `cache` and `cache again`; keep one, or use \
             `App::replace` to swap one for the other",
            "`cache` needs the resource `Missing`, but nothing provides it: register a provider \
             of `Missing` with `App::on_startup` or `App::lifespan`, or ask for \
             `Option<Res<Missing>>` if it is optional",
            "dependency cycle: config -> database -> config; break the loop so that one of \
             them no longer needs the next",
        ]
    );
    assert!(error
        .to_string()
        .starts_with("the app is not valid (3 problems):\n  - two providers of `Cache`"));
    assert!(
        log.take().is_empty(),
        "nothing runs before validation passes"
    );
}

#[test]
fn unit_providers_and_unit_lifespans_register_nothing_and_do_not_conflict() {
    let app = App::new()
        .on_startup(|| {})
        .named("hook one")
        .on_startup(|| Ok::<(), Infallible>(()))
        .named("hook two")
        .on_startup(|| async {})
        .named("hook three")
        .lifespan(|l: Lifespan<()>| async move {
            l.ready(()).await;
            Ok::<_, Infallible>(())
        })
        .named("unit lifespan one")
        .lifespan(|l: Lifespan<()>| async move {
            l.ready(()).await;
            Ok::<_, Infallible>(())
        })
        .named("unit lifespan two");
    assert_eq!(
        app.startup_order().unwrap(),
        [
            "hook one",
            "hook two",
            "hook three",
            "unit lifespan one",
            "unit lifespan two"
        ]
    );
    // Nothing provides `()`, so nothing can ask for it as a resource either.
    let asks = App::new()
        .on_startup(|| {})
        .on_startup(|_: Res<()>| {})
        .named("asks");
    assert!(matches!(
        asks.validate().unwrap_err().problems(),
        [Problem::MissingResource { ty: "()", .. }]
    ));
}

#[test]
fn dot_output_has_every_node_and_an_edge_per_type_passed() {
    let app = App::new()
        .on_startup(config)
        .on_startup(database)
        .lifespan(|l: Lifespan<Cache>, _: Res<Database>| async move {
            let _ = l;
            Ok::<_, Infallible>(())
        })
        .named("cache")
        .on_shutdown(|_: Res<Database>| {})
        .named("close \"db\"");
    assert_eq!(
        app.to_dot(),
        "digraph roadie {\n    rankdir=LR;\n    node [fontname=\"Helvetica\"];\n    \
         n0 [label=\"config\\n(startup provider)\\n→ Config\", shape=box];\n    \
         n1 [label=\"database\\n(startup provider)\\n→ Database\", shape=box];\n    \
         n2 [label=\"cache\\n(lifespan)\\n→ Cache\", shape=box, style=rounded];\n    \
         n3 [label=\"close \\\"db\\\"\\n(shutdown hook)\", shape=octagon];\n    \
         n0 -> n1 [label=\"Config\"];\n    \
         n1 -> n2 [label=\"Database\"];\n    \
         n1 -> n3 [label=\"Database\"];\n}\n"
    );
}

#[test]
fn dot_output_is_available_for_an_invalid_app() {
    let app = App::new()
        .on_startup(|_: Res<Missing>| Ok::<_, Infallible>(Cache))
        .named("cache");
    let dot = app.to_dot();
    assert!(
        dot.contains("n0 [label=\"cache\\n(startup provider)\\n→ Cache\""),
        "{dot}"
    );
}

#[test]
fn a_timeout_on_a_route_or_a_dependency_is_a_problem_not_a_silent_no_op() {
    let app = App::new()
        .get("/", || async { "hi" })
        .timeout(std::time::Duration::from_secs(1))
        .dependency(|| Ok::<_, Infallible>(Conn))
        .named("conn")
        .timeout(std::time::Duration::from_secs(1));
    let error = app.validate().unwrap_err();
    assert!(matches!(
        error.problems(),
        [
            Problem::Setting { setting: "App::timeout", .. },
            Problem::Setting { setting: "App::timeout", node, .. },
        ] if node == "conn"
    ));
    let texts = problems(&error);
    assert!(
        texts[0].starts_with("`App::timeout` on `GET / (closure in "),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].contains("this is a request-scoped dependency"),
        "{}",
        texts[1]
    );
    assert!(texts[1].contains("startup providers, lifespans and shutdown hooks"));

    // On the nodes it applies to, it is no problem.
    let fine = App::new()
        .on_startup(config)
        .timeout(std::time::Duration::from_secs(1))
        .on_shutdown(|| ())
        .timeout(std::time::Duration::from_secs(1));
    fine.validate().unwrap();
}

#[test]
fn a_setting_after_a_refused_route_applies_to_nothing_rather_than_the_node_before() {
    #[route(ÜBER, "/x")]
    async fn bad() -> &'static str {
        "never"
    }

    let app = App::new()
        .on_startup(config)
        .route(bad)
        .named("renamed")
        .timeout(std::time::Duration::from_secs(1));
    let error = app.validate().unwrap_err();
    assert_eq!(error.problems().len(), 1, "{error}");
    assert!(
        matches!(&error.problems()[0], Problem::Route { reason, .. } if reason.contains("not a valid HTTP method")),
        "{error}"
    );
    // `config` kept its name: `.named()` did not reach back past the refused route.
    let app = App::new().on_startup(config).route(bad).named("renamed");
    assert!(!app.to_dot().contains("renamed"), "{}", app.to_dot());
    assert!(app.to_dot().contains("config"));
}

#[test]
fn only_a_route_handler_reads_the_body() {
    #[derive(serde::Deserialize)]
    struct Body {}

    let app = App::new()
        .dependency(|_body: Json<Body>| Ok::<_, Infallible>(Conn))
        .named("conn")
        .on_startup(|_body: String| Ok::<_, Infallible>(Cache))
        .named("cache")
        .post("/", |_conn: Dep<Conn>, _body: Json<Body>| async { "ok" });
    let error = app.validate().unwrap_err();
    assert_eq!(
        problems(&error),
        [
            "`conn` asks for `Json<Body>`: only a route handler's last parameter can read the \
             request body; read it in the handler and pass what the dependency needs through a \
             header or the path, or make the dependency read them",
            "`cache` asks for `String`: it runs outside any request; only routes, middleware \
             and request-scoped dependencies can read the request",
        ]
    );
}

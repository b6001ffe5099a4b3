//! The session-scoped container: one value per type, shared as `Arc<T>`, handed out by type to
//! providers, hooks, handlers and code outside handlers.

mod support;

use std::convert::Infallible;
use std::sync::Arc;

use roadie::prelude::*;
use support::Log;

struct Config {
    name: &'static str,
}
struct Optional;

#[tokio::test]
async fn every_asker_shares_one_value_per_type() {
    let log = Log::new();
    let (l1, l2) = (log.clone(), log.clone());
    let running = App::new()
        .on_startup(|| Ok::<_, Infallible>(Config { name: "roadie" }))
        .on_startup(move |config: Res<Config>| {
            l1.push(format!(
                "provider {:p}",
                Arc::as_ptr(&Res::into_arc(config))
            ));
        })
        .get("/", move |config: Res<Config>| {
            let log = l2.clone();
            async move {
                log.push(format!(
                    "handler {:p}",
                    Arc::as_ptr(&Res::into_arc(config.clone()))
                ));
                config.name
            }
        })
        .start()
        .await
        .unwrap();
    assert_eq!(running.execute(Request::get("/")).await.text(), "roadie");
    let outside = running.resource::<Config>().unwrap();
    assert_eq!(outside.name, "roadie");
    let pointer = format!("{:p}", Arc::as_ptr(&Res::into_arc(outside)));
    assert_eq!(
        log.take(),
        [format!("provider {pointer}"), format!("handler {pointer}")]
    );
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_optional_resource_is_none_when_nothing_provides_it() {
    let log = Log::new();
    let (l1, l2) = (log.clone(), log.clone());
    let running = App::new()
        .on_startup(
            move |missing: Option<Res<Optional>>, present: Option<Res<Config>>| {
                l1.push(format!(
                    "provider: missing {}, present {}",
                    missing.is_some(),
                    present.map(|c| c.name).unwrap_or("none")
                ));
            },
        )
        .on_startup(|| Ok::<_, Infallible>(Config { name: "late" }))
        .get("/", move |missing: Option<Res<Optional>>| {
            let log = l2.clone();
            async move { log.push(format!("handler: missing {}", missing.is_some())) }
        })
        .start()
        .await
        .unwrap();
    running.execute(Request::get("/")).await;
    // An optional need still orders: the provider of `Config` runs first.
    assert_eq!(
        log.take(),
        [
            "provider: missing false, present late",
            "handler: missing false"
        ]
    );
    assert!(running.resource::<Optional>().is_none());
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn unit_providers_register_nothing() {
    let running = App::new()
        .on_startup(|| {})
        .on_startup(|| Ok::<(), Infallible>(()))
        .start()
        .await
        .unwrap();
    assert!(running.resource::<()>().is_none());
    running.shutdown().await.unwrap();
}

#[test]
fn res_wraps_values_for_direct_calls() {
    fn greet(config: Res<Config>) -> String {
        format!("hello from {}", config.name)
    }
    assert_eq!(
        greet(Res::new(Config { name: "a test" })),
        "hello from a test"
    );
    let shared = Arc::new(Config { name: "shared" });
    let res = Res::from_arc(Arc::clone(&shared));
    assert!(Arc::ptr_eq(&Res::into_arc(res.clone()), &shared));
    assert_eq!(res.as_ref().name, "shared");
}

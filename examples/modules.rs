//! An app made of two modules, `users` and `orders`, nested under prefixes.
//!
//! Each module is a function returning an `App::module(..)` with its own provider, lifespan
//! or hook, and routes; `orders` builds on the user directory of `users`. The program answers
//! a few requests in-process with `execute`, prints them, shuts down, and prints what ran.
//!
//! ```sh
//! cargo run --example modules --no-default-features
//! ```

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use roadie::prelude::*;

/// What the modules did, in order, printed at the end.
#[derive(Clone, Default)]
struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    fn write(&self, line: impl Into<String>) {
        self.0.lock().unwrap().push(line.into());
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

mod users {
    use super::*;

    /// The user directory: the resource this module provides.
    pub(crate) struct Directory {
        names: HashMap<u64, &'static str>,
    }

    impl Directory {
        pub(crate) fn name(&self, id: u64) -> Option<&'static str> {
            self.names.get(&id).copied()
        }
    }

    fn directory(journal: Res<Journal>) -> Result<Directory, Infallible> {
        journal.write("users: directory loaded");
        Ok(Directory {
            names: HashMap::from([(1, "ada"), (2, "grace")]),
        })
    }

    fn close_directory(directory: Res<Directory>, journal: Res<Journal>) {
        journal.write(format!(
            "users: directory closed ({} users)",
            directory.names.len()
        ));
    }

    async fn list(directory: Res<Directory>) -> Json<Vec<&'static str>> {
        let mut names: Vec<&'static str> = directory.names.values().copied().collect();
        names.sort_unstable();
        Json(names)
    }

    async fn get(Path(id): Path<u64>, directory: Res<Directory>) -> Result<String, HttpError> {
        directory
            .name(id)
            .map(|name| format!("user {id}: {name}"))
            .ok_or_else(|| HttpError::new(StatusCode::NOT_FOUND, format!("no user {id}")))
    }

    /// The module: a provider, a shutdown hook and two routes.
    pub(crate) fn module() -> App {
        App::module("users")
            .on_startup(directory)
            .on_shutdown(close_directory)
            .get("/", list)
            .get("/{id}", get)
    }
}

mod orders {
    use super::*;
    use crate::users::Directory;

    /// The order ledger, open for the life of the app.
    pub(crate) struct Ledger {
        orders: Mutex<Vec<(u64, String)>>,
    }

    async fn ledger(journal: Res<Journal>, lifespan: Lifespan<Ledger>) -> Result<(), Infallible> {
        journal.write("orders: ledger opened");
        let ledger = lifespan
            .ready(Ledger {
                orders: Mutex::new(Vec::new()),
            })
            .await;
        let count = ledger.orders.lock().unwrap().len();
        journal.write(format!("orders: ledger closed ({count} orders)"));
        Ok(())
    }

    async fn place(
        Path(user): Path<u64>,
        directory: Res<Directory>,
        ledger: Res<Ledger>,
        item: String,
    ) -> Result<String, HttpError> {
        let name = directory
            .name(user)
            .ok_or_else(|| HttpError::new(StatusCode::NOT_FOUND, format!("no user {user}")))?;
        let mut orders = ledger.orders.lock().unwrap();
        orders.push((user, item.clone()));
        Ok(format!("order {} placed: {item} for {name}", orders.len()))
    }

    async fn list(ledger: Res<Ledger>) -> String {
        let orders = ledger.orders.lock().unwrap();
        format!("{} order(s)", orders.len())
    }

    /// The module: a lifespan and two routes; it needs the users module's directory.
    pub(crate) fn module() -> App {
        App::module("orders")
            .lifespan(ledger)
            .get("/", list)
            .post("/{user}", place)
    }
}

fn app(journal: &Journal) -> App {
    App::new()
        .on_startup(roadie::value(journal.clone()))
        .named("journal")
        .nest("/api/orders", orders::module())
        .nest("/api/users", users::module())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), roadie::Error> {
    let journal = Journal::default();
    let app = app(&journal);

    println!("startup order: {}", app.startup_order()?.join(", "));

    for request in [
        Request::get("/api/users"),
        Request::get("/api/users/2"),
        Request::get("/api/users/9"),
        Request::post("/api/orders/1").body("keyboard"),
        Request::post("/api/orders/2").body("lamp"),
        Request::post("/api/orders/9").body("chair"),
        Request::get("/api/orders"),
        Request::get("/users/1"),
    ] {
        let line = format!("{} {}", request.method(), request.uri());
        let response = app.execute(request).await;
        println!(
            "{line:<28} -> {} {}",
            response.status().as_u16(),
            response.text()
        );
    }

    app.shutdown().await?;
    for line in journal.lines() {
        println!("journal: {line}");
    }
    Ok(())
}

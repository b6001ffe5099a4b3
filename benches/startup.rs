//! Startup cost: validation + startup of 100, 1,000 and 10,000 providers as a chain (each
//! needs the previous one) and as a wide fan (all need one root), reported per node; and ten
//! independent async providers of 100 ms each with concurrent startup.
//!
//! The container holds one value per type, so each node of the chain and of the typed fan
//! provides a type of its own: `N<I>`, registered from tables of function pointers that a
//! macro writes out digit by digit (const generics cannot compute `I - 1` on stable Rust, so
//! each entry names both its own index and its predecessor's as literal expressions).
//!
//! Each distinct type is a monomorphized provider: 2,000 of them take about 5 minutes of
//! release build on a 2-core machine, so 20,000 (a chain and a fan of 10,000) are not
//! practical to compile. Typed chains and fans go to 1,000 nodes; the 10,000-node
//! measurement is a fan whose leaves are one function returning `()`: every leaf is a node
//! that needs the root, is validated, ordered and run like any provider, and registers
//! nothing (so that 10,000 of them are no duplicate). The same unit fan is measured at 100
//! and 1,000 too, so its per-node cost compares like with like. See `docs/performance.md`.
//!
//! Run: `cargo bench -p roadie --no-default-features --bench startup`.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use roadie::prelude::*;

/// The value of node `I`.
struct N<const I: usize>;

/// The first node of a chain, and the root of a fan.
fn root() -> Result<N<0>, Infallible> {
    Ok(N)
}

/// Node `I` of a chain: needs node `P = I - 1`.
fn link<const I: usize, const P: usize>(_: Res<N<P>>) -> Result<N<I>, Infallible> {
    Ok(N)
}

/// Node `I` of a fan: needs the root.
fn leaf<const I: usize>(_: Res<N<0>>) -> Result<N<I>, Infallible> {
    Ok(N)
}

/// A leaf of the unit fan: needs the root, registers nothing.
fn unit_leaf(_: Res<N<0>>) {}

fn add_link<const I: usize, const P: usize>(app: App) -> App {
    app.on_startup(link::<I, P>)
}

fn add_leaf<const I: usize>(app: App) -> App {
    app.on_startup(leaf::<I>)
}

type Register = fn(App) -> App;

/// `[[[..; 10]; 10]; 10]` registrations: entry `k` (digits `b c d`) registers node `k + 1`.
macro_rules! table {
    (link) => { table!(@b link 0 [0 1 2 3 4 5 6 7 8 9]) };
    (leaf) => { table!(@b leaf 0 [0 1 2 3 4 5 6 7 8 9]) };
    (@b $f:ident $a:tt [$($b:tt)*]) => { [$(table!(@c $f $a $b [0 1 2 3 4 5 6 7 8 9])),*] };
    (@c $f:ident $a:tt $b:tt [$($c:tt)*]) => { [$(table!(@d $f $a $b $c [0 1 2 3 4 5 6 7 8 9])),*] };
    (@d link $a:tt $b:tt $c:tt [$($d:tt)*]) => {
        [$(add_link::<{ $a * 1000 + $b * 100 + $c * 10 + $d + 1 }, { $a * 1000 + $b * 100 + $c * 10 + $d }> as Register),*]
    };
    (@d leaf $a:tt $b:tt $c:tt [$($d:tt)*]) => {
        [$(add_leaf::<{ $a * 1000 + $b * 100 + $c * 10 + $d + 1 }> as Register),*]
    };
}

static LINKS: [[[Register; 10]; 10]; 10] = table!(link);
static LEAVES: [[[Register; 10]; 10]; 10] = table!(leaf);

fn flat(table: &'static [[[Register; 10]; 10]; 10]) -> &'static [Register] {
    table.as_flattened().as_flattened()
}

/// A chain of `n` nodes: root, then `n - 1` links.
fn chain(n: usize) -> App {
    flat(&LINKS)[..n - 1]
        .iter()
        .fold(App::new().on_startup(root), |app, register| register(app))
}

/// A fan of `n` nodes: root, then `n - 1` leaves that need it.
fn fan(n: usize) -> App {
    flat(&LEAVES)[..n - 1]
        .iter()
        .fold(App::new().on_startup(root), |app, register| register(app))
}

/// A fan of `n` nodes whose leaves register nothing.
fn unit_fan(n: usize) -> App {
    (1..n).fold(App::new().on_startup(root), |app, _| {
        app.on_startup(unit_leaf)
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Times `app.start()` (validation, then every provider) for each iteration; building the app
/// before and shutting it down after are not timed.
fn time_starts(
    rt: &tokio::runtime::Runtime,
    build: fn(usize) -> App,
    n: usize,
    iters: u64,
) -> Duration {
    let app = build(n);
    rt.block_on(async {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let began = Instant::now();
            let running = app.start().await.expect("the bench app starts");
            total += began.elapsed();
            running.shutdown().await.expect("the bench app stops");
        }
        total
    })
}

fn startup(c: &mut Criterion) {
    let rt = runtime();
    for (shape, build, sizes) in [
        ("chain", chain as fn(usize) -> App, &[100, 1_000][..]),
        ("fan", fan, &[100, 1_000][..]),
        ("unit-fan", unit_fan, &[100, 1_000, 10_000][..]),
    ] {
        let mut group = c.benchmark_group(format!("startup/{shape}"));
        group.sample_size(10);
        for &n in sizes {
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
                b.iter_custom(|iters| time_starts(&rt, build, n, iters));
            });
        }
        group.finish();
    }
}

fn validation(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate/unit-fan");
    group.sample_size(10);
    for n in [100, 1_000, 10_000] {
        let app = unit_fan(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| app.validate().expect("valid"));
        });
    }
    group.finish();
}

macro_rules! sleepers {
    ($app:expr; $($i:literal)*) => {
        $app$(.on_startup(|| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok::<_, Infallible>(N::<$i>)
        }))*
    };
}

fn concurrent(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = sleepers!(App::new().concurrent_startup(true); 0 1 2 3 4 5 6 7 8 9);
    let mut group = c.benchmark_group("startup/concurrent");
    group.sample_size(10);
    group.bench_function("10 x 100 ms", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let began = Instant::now();
                    let running = app.start().await.expect("starts");
                    total += began.elapsed();
                    running.shutdown().await.expect("stops");
                }
                total
            })
        });
    });
    group.finish();
}

/// Every startup bench. (Written out rather than with `criterion_group!`, whose public function
/// has no doc comment for the crate's `missing_docs` lint.)
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    validation(&mut c);
    startup(&mut c);
    concurrent(&mut c);
}

criterion_main!(benches);

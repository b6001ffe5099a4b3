//! The development loop as a state machine: build, start, wait for ready, swap; and on every
//! change, again, while the old process keeps serving.
//!
//! The states, in order: **building** (a change during the build makes it stale: it is built
//! again, and nothing is started from the stale build); **build failed** (the compiler's
//! errors are shown and the old process keeps serving); **starting** (the new process runs
//! beside the old one, both accepting from the one socket); **ready** (the old one gets
//! SIGTERM and drains: every connection it accepted is answered); **failed to start** (the
//! new one ended, or never became ready: it is stopped and the old one keeps serving);
//! **serving**, until the next change or a stop.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::build::{BuildFailed, Builder};
use crate::process::{Launcher, Process, Readiness};

/// What the runner is told from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// Sources changed (debounced): rebuild.
    Changed(Vec<PathBuf>),
    /// Ctrl-C or SIGTERM: stop the app cleanly, then the runner.
    Stop,
}

/// What the runner tells: one line each.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Report {
    /// The first process serves.
    Started {
        pid: u32,
        build: Duration,
        ready: Duration,
    },
    /// A new process serves; the old one drains.
    Reloaded {
        count: u64,
        old: u32,
        new: u32,
        build: Duration,
        swap: Duration,
    },
    /// A change came during a build: that build is not started, another one begins.
    Superseded,
    /// The build failed; the old process, if any, keeps serving.
    BuildFailed { error: String, serving: Option<u32> },
    /// The new process could not start, or ended before it was ready.
    StartFailed { error: String, serving: Option<u32> },
    /// The serving process ended by itself.
    Exited { pid: u32, status: String },
    /// Everything stopped.
    Stopped,
}

fn seconds(duration: &Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keeping = |f: &mut fmt::Formatter<'_>, serving: &Option<u32>| match serving {
            Some(pid) => write!(f, "; pid {pid} keeps serving"),
            None => write!(f, "; waiting for a change"),
        };
        match self {
            Self::Started { pid, build, ready } => write!(
                f,
                "roadie-dev: started pid {pid} (built in {}, ready in {})",
                seconds(build),
                seconds(ready)
            ),
            Self::Reloaded {
                count,
                old,
                new,
                build,
                swap,
            } => write!(
                f,
                "roadie-dev: reload {count}: built in {}, swapped in {} (pid {old} drains, pid {new} serves)",
                seconds(build),
                seconds(swap)
            ),
            Self::Superseded => write!(f, "roadie-dev: changed during the build; building again"),
            Self::BuildFailed { error, serving } => {
                write!(f, "roadie-dev: {error}")?;
                keeping(f, serving)
            }
            Self::StartFailed { error, serving } => {
                write!(f, "roadie-dev: the new process did not start: {error}")?;
                keeping(f, serving)
            }
            Self::Exited { pid, status } => write!(
                f,
                "roadie-dev: pid {pid} ended by itself ({status}); waiting for a change"
            ),
            Self::Stopped => write!(f, "roadie-dev: stopped"),
        }
    }
}

/// How long to wait for things.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// How long a new process may take to become ready before it counts as failed.
    pub(crate) ready_timeout: Duration,
    /// How long the processes may take to stop after SIGTERM (at Ctrl-C) before SIGKILL.
    pub(crate) stop_timeout: Duration,
    /// How often to look at the processes between events.
    pub(crate) tick: Duration,
}

/// The development loop over a builder and a launcher.
pub(crate) struct Runner<B: Builder, L: Launcher, R: FnMut(Report)> {
    builder: B,
    launcher: L,
    report: R,
    timing: Timing,
    serving: Option<L::Process>,
    draining: Vec<L::Process>,
    reloads: u64,
}

impl<B: Builder, L: Launcher, R: FnMut(Report)> fmt::Debug for Runner<B, L, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("serving", &self.serving.as_ref().map(Process::id))
            .field("reloads", &self.reloads)
            .finish_non_exhaustive()
    }
}

/// Whether to go on after a step.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Go,
    Stop,
}

impl<B: Builder, L: Launcher, R: FnMut(Report)> Runner<B, L, R> {
    pub(crate) fn new(builder: B, launcher: L, timing: Timing, report: R) -> Self {
        Self {
            builder,
            launcher,
            report,
            timing,
            serving: None,
            draining: Vec::new(),
            reloads: 0,
        }
    }

    /// Builds and starts, then rebuilds and swaps on every change, until [`Event::Stop`] (or
    /// every sender of events is gone); then stops every process cleanly.
    pub(crate) fn run(&mut self, events: &Receiver<Event>) {
        let mut build = true;
        loop {
            if build && self.build_and_swap(events) == Flow::Stop {
                break;
            }
            build = false;
            self.look_after_processes();
            match events.recv_timeout(self.timing.tick) {
                Ok(Event::Changed(_)) => build = true,
                Ok(Event::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
        self.stop_all();
    }

    /// One reload: build (again while changes come during it), then start and swap.
    fn build_and_swap(&mut self, events: &Receiver<Event>) -> Flow {
        loop {
            let started = Instant::now();
            let built = self.builder.build();
            let build_time = started.elapsed();
            let mut changed = false;
            while let Ok(event) = events.try_recv() {
                match event {
                    Event::Changed(_) => changed = true,
                    Event::Stop => return Flow::Stop,
                }
            }
            if changed {
                (self.report)(Report::Superseded);
                continue;
            }
            return match built {
                Ok(program) => self.swap(&program, build_time, events),
                Err(error) => {
                    self.build_failed(&error);
                    Flow::Go
                }
            };
        }
    }

    fn build_failed(&mut self, error: &BuildFailed) {
        let serving = self.serving.as_ref().map(Process::id);
        (self.report)(Report::BuildFailed {
            error: error.to_string(),
            serving,
        });
    }

    /// Starts `program` beside the serving process; once it is ready, the old one drains.
    fn swap(&mut self, program: &Path, build: Duration, events: &Receiver<Event>) -> Flow {
        let started = Instant::now();
        let serving = self.serving.as_ref().map(Process::id);
        let mut new = match self.launcher.launch(program) {
            Ok(new) => new,
            Err(error) => {
                (self.report)(Report::StartFailed {
                    error: format!("could not run {}: {error}", program.display()),
                    serving,
                });
                return Flow::Go;
            }
        };
        let deadline = started + self.timing.ready_timeout;
        loop {
            match new.poll_ready(self.timing.tick) {
                Readiness::Ready => break,
                Readiness::Exited(status) => {
                    (self.report)(Report::StartFailed {
                        error: format!("it ended ({status}) before it was ready"),
                        serving,
                    });
                    return Flow::Go;
                }
                Readiness::Pending if Instant::now() >= deadline => {
                    new.kill();
                    (self.report)(Report::StartFailed {
                        error: format!(
                            "not ready after {}; stopped",
                            seconds(&self.timing.ready_timeout)
                        ),
                        serving,
                    });
                    return Flow::Go;
                }
                Readiness::Pending => {}
            }
            // A stop while starting stops the new one too (it is not serving yet).
            if let Ok(Event::Stop) = events.try_recv() {
                self.draining.push(new);
                return Flow::Stop;
            }
        }
        let new_pid = new.id();
        match self.serving.replace(new) {
            Some(mut old) => {
                old.terminate();
                self.reloads += 1;
                (self.report)(Report::Reloaded {
                    count: self.reloads,
                    old: old.id(),
                    new: new_pid,
                    build,
                    swap: started.elapsed(),
                });
                self.draining.push(old);
            }
            None => (self.report)(Report::Started {
                pid: new_pid,
                build,
                ready: started.elapsed(),
            }),
        }
        Flow::Go
    }

    /// Forgets the drained processes that ended; notices a serving one that ended by itself.
    fn look_after_processes(&mut self) {
        self.draining.retain_mut(|old| old.try_wait().is_none());
        if let Some(serving) = &mut self.serving {
            if let Some(status) = serving.try_wait() {
                let pid = serving.id();
                self.serving = None;
                (self.report)(Report::Exited { pid, status });
            }
        }
    }

    /// SIGTERM to every process, then waits for their teardown (SIGKILL past the stop
    /// timeout).
    fn stop_all(&mut self) {
        let mut all: Vec<L::Process> = self.serving.take().into_iter().collect();
        all.append(&mut self.draining);
        for process in &mut all {
            process.terminate();
        }
        let deadline = Instant::now() + self.timing.stop_timeout;
        while !all.is_empty() {
            all.retain_mut(|process| process.try_wait().is_none());
            if Instant::now() >= deadline {
                for process in &mut all {
                    process.kill();
                }
                break;
            }
            std::thread::sleep(self.timing.tick.min(Duration::from_millis(20)));
        }
        (self.report)(Report::Stopped);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;
    use std::sync::mpsc::{channel, Sender};

    use super::*;

    /// What the fakes did, in order.
    type Log = Rc<RefCell<Vec<String>>>;

    /// A fake build: each call takes the next outcome; it may send events while "building".
    struct FakeBuilder {
        outcomes: VecDeque<(Result<&'static str, ()>, Option<Event>)>,
        events: Sender<Event>,
        log: Log,
    }

    impl Builder for FakeBuilder {
        fn build(&mut self) -> Result<PathBuf, BuildFailed> {
            let (outcome, during) = self.outcomes.pop_front().expect("an outcome per build");
            self.log.borrow_mut().push(format!("build {outcome:?}"));
            if let Some(event) = during {
                self.events.send(event).unwrap();
            }
            outcome
                .map(PathBuf::from)
                .map_err(|()| BuildFailed::Compile)
        }
    }

    /// How a fake process behaves: ready after some polls, ends early, or never ready.
    #[derive(Clone, Copy)]
    enum Behaviour {
        ReadyAfter(u32),
        Ends,
        NeverReady,
    }

    struct FakeLauncher {
        behaviours: VecDeque<Behaviour>,
        next_pid: u32,
        log: Log,
    }

    impl Launcher for FakeLauncher {
        type Process = FakeProcess;

        fn launch(&mut self, program: &Path) -> std::io::Result<FakeProcess> {
            let behaviour = self.behaviours.pop_front().expect("a behaviour per launch");
            self.next_pid += 1;
            self.log.borrow_mut().push(format!(
                "launch {} as {}",
                program.display(),
                self.next_pid
            ));
            Ok(FakeProcess {
                pid: self.next_pid,
                behaviour,
                polls: 0,
                ended: None,
                log: Rc::clone(&self.log),
            })
        }
    }

    struct FakeProcess {
        pid: u32,
        behaviour: Behaviour,
        polls: u32,
        ended: Option<String>,
        log: Log,
    }

    impl Process for FakeProcess {
        fn id(&self) -> u32 {
            self.pid
        }

        fn poll_ready(&mut self, _wait: Duration) -> Readiness {
            self.polls += 1;
            match self.behaviour {
                Behaviour::ReadyAfter(polls) if self.polls >= polls => Readiness::Ready,
                Behaviour::Ends => {
                    self.ended = Some("exit status: 1".into());
                    Readiness::Exited("exit status: 1".into())
                }
                _ => Readiness::Pending,
            }
        }

        fn terminate(&mut self) {
            self.log
                .borrow_mut()
                .push(format!("terminate {}", self.pid));
            self.ended = Some("exit status: 0".into());
        }

        fn kill(&mut self) {
            self.log.borrow_mut().push(format!("kill {}", self.pid));
            self.ended = Some("signal: 9 (SIGKILL)".into());
        }

        fn try_wait(&mut self) -> Option<String> {
            self.ended.clone()
        }
    }

    /// Runs the loop over these builds and process behaviours. The events of `script` come one
    /// at a time, each after a report that ends a step (started, reloaded, build failed, start
    /// failed), as a developer saves a file after seeing the last result. Returns the fakes'
    /// log and the reports.
    fn run(
        builds: Vec<(Result<&'static str, ()>, Option<Event>)>,
        behaviours: Vec<Behaviour>,
        script: Vec<Event>,
    ) -> (Vec<String>, Vec<Report>) {
        let (sender, receiver) = channel();
        let log = Log::default();
        let reports = RefCell::new(Vec::new());
        let builder = FakeBuilder {
            outcomes: builds.into(),
            events: sender.clone(),
            log: Rc::clone(&log),
        };
        let launcher = FakeLauncher {
            behaviours: behaviours.into(),
            next_pid: 100,
            log: Rc::clone(&log),
        };
        let timing = Timing {
            ready_timeout: Duration::from_millis(50),
            stop_timeout: Duration::from_millis(50),
            tick: Duration::from_millis(1),
        };
        let mut script = VecDeque::from(script);
        let mut runner = Runner::new(builder, launcher, timing, |report| {
            if !matches!(report, Report::Superseded | Report::Stopped) {
                if let Some(event) = script.pop_front() {
                    sender.send(event).unwrap();
                }
            }
            reports.borrow_mut().push(report);
        });
        runner.run(&receiver);
        drop(runner);
        let log = log.borrow().clone();
        (log, reports.into_inner())
    }

    fn change() -> Event {
        Event::Changed(vec![PathBuf::from("src/lib.rs")])
    }

    fn kinds(reports: &[Report]) -> Vec<&'static str> {
        reports
            .iter()
            .map(|report| match report {
                Report::Started { .. } => "started",
                Report::Reloaded { .. } => "reloaded",
                Report::Superseded => "superseded",
                Report::BuildFailed { .. } => "build failed",
                Report::StartFailed { .. } => "start failed",
                Report::Exited { .. } => "exited",
                Report::Stopped => "stopped",
            })
            .collect()
    }

    #[test]
    fn a_good_build_starts_the_new_process_and_only_then_stops_the_old_one() {
        let (log, reports) = run(
            vec![(Ok("v1"), None), (Ok("v2"), None)],
            vec![Behaviour::ReadyAfter(1), Behaviour::ReadyAfter(3)],
            vec![change(), Event::Stop],
        );
        assert_eq!(
            log,
            [
                "build Ok(\"v1\")",
                "launch v1 as 101",
                "build Ok(\"v2\")",
                "launch v2 as 102",
                "terminate 101",
                "terminate 102",
            ]
        );
        assert_eq!(kinds(&reports), ["started", "reloaded", "stopped"]);
        assert!(matches!(
            reports[1],
            Report::Reloaded {
                count: 1,
                old: 101,
                new: 102,
                ..
            }
        ));
    }

    #[test]
    fn a_failed_build_leaves_the_old_process_serving() {
        let (log, reports) = run(
            vec![(Ok("v1"), None), (Err(()), None), (Ok("v3"), None)],
            vec![Behaviour::ReadyAfter(1), Behaviour::ReadyAfter(1)],
            vec![change(), change(), Event::Stop],
        );
        assert_eq!(
            log,
            [
                "build Ok(\"v1\")",
                "launch v1 as 101",
                "build Err(())",
                "build Ok(\"v3\")",
                "launch v3 as 102",
                "terminate 101",
                "terminate 102",
            ]
        );
        assert_eq!(
            kinds(&reports),
            ["started", "build failed", "reloaded", "stopped"]
        );
        assert_eq!(
            reports[1].to_string(),
            "roadie-dev: the build failed: the compiler's errors are above; pid 101 keeps serving"
        );
    }

    #[test]
    fn a_first_build_that_fails_waits_for_a_change() {
        let (log, reports) = run(
            vec![(Err(()), None), (Ok("v2"), None)],
            vec![Behaviour::ReadyAfter(1)],
            vec![change(), Event::Stop],
        );
        assert_eq!(
            log,
            [
                "build Err(())",
                "build Ok(\"v2\")",
                "launch v2 as 101",
                "terminate 101"
            ]
        );
        assert_eq!(
            reports[0].to_string(),
            "roadie-dev: the build failed: the compiler's errors are above; waiting for a change"
        );
    }

    #[test]
    fn a_new_process_that_ends_before_ready_leaves_the_old_one_serving() {
        let (log, reports) = run(
            vec![(Ok("v1"), None), (Ok("v2"), None)],
            vec![Behaviour::ReadyAfter(1), Behaviour::Ends],
            vec![change(), Event::Stop],
        );
        assert_eq!(
            log,
            [
                "build Ok(\"v1\")",
                "launch v1 as 101",
                "build Ok(\"v2\")",
                "launch v2 as 102",
                "terminate 101",
            ]
        );
        assert_eq!(kinds(&reports), ["started", "start failed", "stopped"]);
        assert!(reports[1].to_string().ends_with("pid 101 keeps serving"));
    }

    #[test]
    fn a_new_process_never_ready_is_killed_and_the_old_one_keeps_serving() {
        let (log, reports) = run(
            vec![(Ok("v1"), None), (Ok("v2"), None)],
            vec![Behaviour::ReadyAfter(1), Behaviour::NeverReady],
            vec![change(), Event::Stop],
        );
        assert!(log.contains(&"kill 102".to_owned()), "{log:?}");
        assert_eq!(log.last().unwrap(), "terminate 101");
        assert_eq!(kinds(&reports), ["started", "start failed", "stopped"]);
        assert!(reports[1].to_string().contains("not ready after"));
    }

    #[test]
    fn a_change_during_a_build_builds_again_and_starts_only_the_newer_build() {
        let (log, reports) = run(
            vec![
                (Ok("v1"), None),
                (Ok("v2"), Some(change())),
                (Ok("v3"), None),
            ],
            vec![Behaviour::ReadyAfter(1), Behaviour::ReadyAfter(1)],
            vec![change(), Event::Stop],
        );
        assert_eq!(
            log,
            [
                "build Ok(\"v1\")",
                "launch v1 as 101",
                "build Ok(\"v2\")",
                "build Ok(\"v3\")",
                "launch v3 as 102",
                "terminate 101",
                "terminate 102",
            ]
        );
        assert_eq!(
            kinds(&reports),
            ["started", "superseded", "reloaded", "stopped"]
        );
    }

    #[test]
    fn a_stop_during_a_build_stops_without_starting_it() {
        let (log, reports) = run(
            vec![(Ok("v1"), None), (Ok("v2"), Some(Event::Stop))],
            vec![Behaviour::ReadyAfter(1)],
            vec![change()],
        );
        assert_eq!(
            log,
            [
                "build Ok(\"v1\")",
                "launch v1 as 101",
                "build Ok(\"v2\")",
                "terminate 101",
            ]
        );
        assert_eq!(kinds(&reports), ["started", "stopped"]);
    }

    #[test]
    fn the_reload_line_gives_the_build_and_swap_times() {
        let line = Report::Reloaded {
            count: 2,
            old: 7,
            new: 9,
            build: Duration::from_millis(1500),
            swap: Duration::from_millis(120),
        }
        .to_string();
        assert_eq!(
            line,
            "roadie-dev: reload 2: built in 1.50 s, swapped in 0.12 s (pid 7 drains, pid 9 serves)"
        );
    }
}

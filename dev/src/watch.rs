//! Watching the sources: file events from `notify`, debounced into one [`Event::Changed`].

use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};

use crate::runner::Event;
use crate::DevError;

/// How long the sources must stay quiet before a rebuild: an editor's save is often several
/// events (a temporary file, a rename, a change of attributes).
pub(crate) const DEBOUNCE: Duration = Duration::from_millis(200);

/// Watches `paths` (those that exist), and sends one [`Event::Changed`] per burst of changes.
/// Keep the returned watcher: dropping it stops the watching.
pub(crate) fn watch(
    paths: &[PathBuf],
    events: Sender<Event>,
) -> Result<notify::RecommendedWatcher, DevError> {
    let (raw, bursts) = channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        for path in event.paths {
            if counts(&path) {
                let _ = raw.send(path);
            }
        }
    })
    .map_err(|source| DevError::Watch {
        path: PathBuf::new(),
        source,
    })?;
    for path in paths.iter().filter(|path| path.exists()) {
        watcher
            .watch(path, RecursiveMode::Recursive)
            .map_err(|source| DevError::Watch {
                path: path.clone(),
                source,
            })?;
    }
    std::thread::spawn(move || {
        while let Ok(first) = bursts.recv() {
            let mut changed = vec![first];
            loop {
                match bursts.recv_timeout(DEBOUNCE) {
                    Ok(path) => changed.push(path),
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            changed.sort();
            changed.dedup();
            if events.send(Event::Changed(changed)).is_err() {
                return;
            }
        }
    });
    Ok(watcher)
}

/// Whether a change to `path` is a change to the sources: not in a `target` directory, not an
/// editor's swap or backup file.
fn counts(path: &Path) -> bool {
    if path.components().any(|part| part.as_os_str() == "target") {
        return false;
    }
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy())
        .unwrap_or_default();
    !(name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.starts_with(".#")
        || name == "4913")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_output_and_editor_files_are_not_changes() {
        assert!(counts(Path::new("/p/src/lib.rs")));
        assert!(counts(Path::new("/p/examples/todo/main.rs")));
        assert!(!counts(Path::new("/p/target/debug/todo")));
        assert!(!counts(Path::new("/p/src/.lib.rs.swp")));
        assert!(!counts(Path::new("/p/src/lib.rs~")));
        assert!(!counts(Path::new("/p/src/4913")));
    }
}

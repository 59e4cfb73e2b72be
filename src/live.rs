//! A folder that admins edit while the bot runs (prompts, command manifests):
//! loaded at start, reloaded on change. A broken edit keeps the last good
//! version live and logs why; the admin fixes the file and it applies.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

/// What a live folder holds.
pub trait Loadable: Sized + Send + Sync + 'static {
    type Error: std::fmt::Display;
    /// What the logs call it ("prompts", "command manifests").
    const WHAT: &'static str;
    fn load(dir: &Path) -> Result<Self, Self::Error>;
    /// The built-in set, used when the folder is missing or broken at start.
    fn embedded() -> Self;
    /// Identifies a loaded version (a content hash), so unchanged reloads stay quiet.
    fn version(&self) -> String;
}

pub struct LiveDir<T: Loadable> {
    dir: PathBuf,
    current: Arc<RwLock<Arc<T>>>,
    _watcher: Option<notify::RecommendedWatcher>,
}

impl<T: Loadable> LiveDir<T> {
    /// Loads the folder (or the embedded set when it is missing or broken)
    /// and watches it for changes.
    pub fn open(dir: &Path) -> LiveDir<T> {
        let initial = match T::load(dir) {
            Ok(loaded) => loaded,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "{} folder unusable; using the built-in defaults", T::WHAT);
                T::embedded()
            }
        };
        tracing::info!(version = %initial.version(), "{} loaded", T::WHAT);
        let current = Arc::new(RwLock::new(Arc::new(initial)));
        let watcher = watch(dir, current.clone());
        LiveDir { dir: dir.to_path_buf(), current, _watcher: watcher }
    }

    /// A fixed set that never reloads (tests, benchmarks).
    pub fn fixed(value: T) -> LiveDir<T> {
        LiveDir { dir: PathBuf::new(), current: Arc::new(RwLock::new(Arc::new(value))), _watcher: None }
    }

    pub fn current(&self) -> Arc<T> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reloads now; on error the last good version stays live.
    pub fn reload(&self) -> Result<String, T::Error> {
        reload(&self.dir, &self.current)
    }
}

fn reload<T: Loadable>(dir: &Path, current: &RwLock<Arc<T>>) -> Result<String, T::Error> {
    let loaded = T::load(dir)?;
    let version = loaded.version();
    *current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded);
    Ok(version)
}

fn watch<T: Loadable>(dir: &Path, current: Arc<RwLock<Arc<T>>>) -> Option<notify::RecommendedWatcher> {
    if !dir.is_dir() {
        return None;
    }
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.send(());
        }
    })
    .inspect_err(|e| tracing::warn!(error = %e, "cannot watch the {} folder; edits need a restart", T::WHAT))
    .ok()?;
    watcher.watch(dir, RecursiveMode::Recursive).ok()?;
    let dir = dir.to_path_buf();
    std::thread::Builder::new()
        .name(format!("juru-watch-{}", T::WHAT.split(' ').next_back().unwrap_or("dir")))
        .spawn(move || {
            while rx.recv().is_ok() {
                // Editors write in several steps: wait for quiet, then reload once.
                while rx.recv_timeout(Duration::from_millis(150)).is_ok() {}
                let before = current.read().unwrap_or_else(|p| p.into_inner()).version();
                match reload(&dir, &current) {
                    Ok(version) if version != before => tracing::info!(%version, "{} reloaded", T::WHAT),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, version = %before, "{} edit refused; the last good version stays live", T::WHAT),
                }
            }
        })
        .ok()?;
    Some(watcher)
}

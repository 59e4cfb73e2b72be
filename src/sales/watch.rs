//! Prompt files apply without restart: a watcher reloads the folder on change;
//! a broken edit keeps the last good version live and logs why.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::prompts::{PromptError, Prompts};

pub struct PromptStore {
    dir: PathBuf,
    current: Arc<RwLock<Arc<Prompts>>>,
    _watcher: Option<notify::RecommendedWatcher>,
}

impl PromptStore {
    /// Loads the folder (or the embedded defaults when it is missing or
    /// broken at start) and watches it for changes.
    pub fn open(dir: &Path) -> PromptStore {
        let initial = match Prompts::load(dir) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "prompt folder unusable; using the built-in defaults");
                Prompts::embedded()
            }
        };
        tracing::info!(version = %initial.version, "prompts loaded");
        let current = Arc::new(RwLock::new(Arc::new(initial)));
        let watcher = watch(dir, current.clone());
        PromptStore { dir: dir.to_path_buf(), current, _watcher: watcher }
    }

    pub fn current(&self) -> Arc<Prompts> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reloads now; on error the last good version stays live.
    pub fn reload(&self) -> Result<String, PromptError> {
        reload(&self.dir, &self.current)
    }
}

fn reload(dir: &Path, current: &RwLock<Arc<Prompts>>) -> Result<String, PromptError> {
    let prompts = Prompts::load(dir)?;
    let version = prompts.version.clone();
    *current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(prompts);
    Ok(version)
}

fn watch(dir: &Path, current: Arc<RwLock<Arc<Prompts>>>) -> Option<notify::RecommendedWatcher> {
    if !dir.is_dir() {
        return None;
    }
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.send(());
        }
    })
    .inspect_err(|e| tracing::warn!(error = %e, "cannot watch the prompt folder; edits need a restart"))
    .ok()?;
    watcher.watch(dir, RecursiveMode::Recursive).ok()?;
    let dir = dir.to_path_buf();
    std::thread::Builder::new()
        .name("juru-prompts".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                // Editors write in several steps: wait for quiet, then reload once.
                while rx.recv_timeout(Duration::from_millis(150)).is_ok() {}
                let before = current.read().unwrap_or_else(|p| p.into_inner()).version.clone();
                match reload(&dir, &current) {
                    Ok(version) if version != before => tracing::info!(%version, "prompts reloaded"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, version = %before, "prompt edit refused; the last good version stays live"),
                }
            }
        })
        .ok()?;
    Some(watcher)
}

//! Config reload: the file is checked for changes (and re-read on demand, e.g. SIGHUP);
//! a bad new file is refused with a log line and the last good config stays in force.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::server::State;
use crate::model::load::{LoadError, load_file};

/// Reads, checks and applies the file; on error nothing changes.
pub fn reload_file(path: &Path, state: &State) -> Result<(), LoadError> {
    let config = load_file(path)?;
    if config.listeners != state.table().config.listeners {
        tracing::warn!("listener addresses changed in the config file; they apply after a restart");
    }
    if config.identity != state.table().config.identity {
        tracing::warn!(
            "the identity section changed in the config file; it applies after a restart"
        );
    }
    state.apply(config);
    tracing::info!(file = %path.display(), "config reloaded");
    Ok(())
}

/// A file's modification time and size (None while it cannot be read).
pub(super) fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Polls the file's modification time and size every `interval`; reloads on change.
pub async fn watch_file(path: PathBuf, state: Arc<State>, interval: Duration) {
    let mut last = stamp(&path);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = stamp(&path);
        if now == last {
            continue;
        }
        last = now;
        if let Err(e) = reload_file(&path, &state) {
            tracing::error!("config change refused, keeping the last good config: {e}");
        }
    }
}

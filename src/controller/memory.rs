//! Giving freed memory back to the system. A publication replaces the encodings of every
//! changed service, and a wave of full snapshots (1,000 proxies subscribing) allocates
//! megabytes per proxy for a moment; glibc keeps what they freed in its arenas, so the
//! controller's RSS grew with every change (233 MB after 20 changes with 1,000 proxies,
//! 122 MB before them). Fewer arenas, and a trim once the work has settled, keep RSS near
//! what is live.
//!
//! The crate's one `unsafe`: two glibc calls that take no pointers.
#![allow(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};

/// How often the trimmer looks; a publication is trimmed after one more look, by when its
/// deltas are sent and the publication it replaced is dropped.
const LOOK_EVERY: Duration = Duration::from_millis(500);

/// At most two malloc arenas: the controller's threads allocate the same shapes, and each
/// extra arena is memory that stays reserved after a burst. Call before threads start.
pub fn limit_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter; M_ARENA_MAX takes any positive value.
    unsafe {
        nix::libc::mallopt(nix::libc::M_ARENA_MAX, 2);
    }
}

/// Trims the heap after each publication and after each wave of full snapshots, once no
/// full snapshot is in flight (`in_flight` has all of its `capacity` permits back).
pub async fn trim_when_settled<T: Send + Sync + 'static>(
    mut published: watch::Receiver<T>,
    in_flight: Arc<Semaphore>,
    capacity: usize,
) {
    let mut due = false;
    loop {
        tokio::time::sleep(LOOK_EVERY).await;
        let settled = in_flight.available_permits() == capacity;
        if due && settled {
            due = false;
            // Trimming walks the arenas under their locks: off the async workers.
            let _ = tokio::task::spawn_blocking(trim).await;
        }
        match published.has_changed() {
            Ok(true) => {
                published.borrow_and_update();
                due = true;
            }
            Ok(false) => due |= !settled,
            Err(_) => return,
        }
    }
}

fn trim() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim takes no pointers; it releases the free pages of every arena.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

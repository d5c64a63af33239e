//! What each open events socket on this node watches (`?connection_id=`
//! on `GET`/`POST {c}`): calls it hears though its user is no member.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// The calls each open connection watches, by connection id.
#[derive(Default)]
pub struct Watches {
    inner: Mutex<HashMap<String, Arc<Mutex<HashSet<String>>>>>,
}

impl Watches {
    /// Opens a connection's watch list.
    pub fn open(&self, id: &str) -> Arc<Mutex<HashSet<String>>> {
        let list = Arc::<Mutex<HashSet<String>>>::default();
        let mut all = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        all.insert(id.to_owned(), list.clone());
        list
    }

    /// Closes a connection's watch list.
    pub fn close(&self, id: &str) {
        let mut all = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        all.remove(id);
    }

    /// Connection `id` (on this node) now hears call `cid`; `false` when
    /// there is no such connection or it watches too many calls already.
    pub fn watch(&self, id: &str, cid: &str) -> bool {
        let all = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(list) = all.get(id) else {
            return false;
        };
        let mut list = list.lock().unwrap_or_else(|e| e.into_inner());
        if list.len() >= super::MAX_WATCHED && !list.contains(cid) {
            return false;
        }
        list.insert(cid.to_owned());
        true
    }
}

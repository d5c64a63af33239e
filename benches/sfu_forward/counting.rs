//! Counts the allocations of the SFU's media threads (known by their Linux
//! thread ids once the SFU reports them); every other thread allocates
//! uncounted.
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering::Relaxed};

/// The media threads' ids; 0 ends the list.
pub static MEDIA: [AtomicI32; 64] = [const { AtomicI32::new(0) }; 64];
/// Allocations (and reallocations) they made.
pub static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // Const, without a destructor: readable inside the allocator.
    static TID: Cell<i32> = const { Cell::new(0) };
}

fn count() {
    let tid = TID.with(|t| {
        if t.get() == 0 {
            // SAFETY: gettid has no preconditions.
            t.set(unsafe { libc::gettid() });
        }
        t.get()
    });
    for m in &MEDIA {
        match m.load(Relaxed) {
            0 => return,
            id if id == tid => {
                ALLOCATIONS.fetch_add(1, Relaxed);
                return;
            }
            _ => {}
        }
    }
}

/// The system allocator, counting.
pub struct Counting;

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

//! `bench subscription-bytes`: heap bytes one idle subscription holds, in
//! process, counted by the allocator. The socket figure (`bench
//! subscribers`) reads the server's resident memory, which the allocator's
//! pages and the machine make noisy; this one is exact and repeatable, so a
//! change to the subscription stream can be weighed byte by byte.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::task::{Context, Poll};

use futures_util::StreamExt;
use mimalloc::MiMalloc;
use referral_hub::events::Hub;
use referral_hub::graphql::build_api;
use referral_hub::ratelimit::LinkLimits;

use super::Fixture;

/// The server's allocator (mimalloc, see `main.rs`), counting the bytes it
/// has out: every bench in this binary runs on the allocator users run.
pub struct Counting;

static HELD: AtomicIsize = AtomicIsize::new(0);

// The one unsafe code in the workspace: a GlobalAlloc is an unsafe trait.
// Each method only counts and hands the call to mimalloc.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { MiMalloc.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HELD.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { MiMalloc.realloc(ptr, layout, new_size) }
    }
}

/// The subscription the socket bench opens, and the notifications feed.
const QUERIES: [(&str, &str); 2] = [
    ("referralEvents, live", "subscription { referralEvents { kind referenceId } }"),
    ("notifications, live", "subscription { notifications { id message } }"),
];

pub async fn run(count: usize) {
    let f = Fixture::new(None, 1).await;
    let api = build_api(f.ctx.clone(), false, Default::default(), LinkLimits::new(60, 60), Hub::default());
    let waker = futures_util::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    // One socket's data, shared by its subscriptions.
    let session = api.socket_data(Some(f.me.clone()), Some([127, 0, 0, 1].into()));
    for (name, query) in QUERIES {
        let before = HELD.load(Ordering::Relaxed);
        let mut held = Vec::with_capacity(count);
        let vec_bytes = HELD.load(Ordering::Relaxed) - before;
        for _ in 0..count {
            let request = async_graphql::Request::new(query);
            let mut stream = api.execute_stream(request, session.clone());
            // Polled once: it waits for an event, as a socket's would.
            if let Poll::Ready(r) = stream.poll_next_unpin(&mut cx) {
                panic!("the subscription ended or answered at once: {r:?}");
            }
            held.push(stream);
        }
        let per = (HELD.load(Ordering::Relaxed) - before - vec_bytes) as f64 / count as f64;
        println!("{name:<24} {per:>8.0} bytes per idle subscription ({count} held)");
        drop(held);
    }
}

//! The WASI a plugin is linked with: exactly the interfaces the contract
//! allows (`contract::ALLOWED_IMPORTS`), none of which waits.
//!
//! Why this is not `wasmtime_wasi::p2::add_to_linker_sync`: epoch
//! interruption and fuel stop a plugin only while it runs wasm. A host
//! function that blocks the thread is beyond both, and wasmtime's sync WASI
//! blocks in two places a plugin can reach: a pollable from
//! `monotonic-clock.subscribe-duration` / `subscribe-instant` sleeps in real
//! time (the frozen clock does not matter: the sleep is a tokio timer), and
//! `poll.poll` / `pollable.block` wait for it (`std::thread::sleep` on
//! `wasm32-wasip2` is exactly that). One plugin sleeping an hour held its
//! pool slot an hour, its request unanswered, past `timeout_ms` and fuel.
//!
//! So the sandbox serves those two interfaces itself:
//!
//! - `wasi:clocks/monotonic-clock`: frozen at 0, like the wall clock, and
//!   every timer is already due: in a sandbox whose clock never moves there
//!   is nothing a sleep could wait for, and "never" would block for ever.
//!   A sleep returns at once; a plugin that sleeps in a loop spins in wasm,
//!   where the deadline stops it.
//! - `wasi:io/poll`: `poll`, `block` and `ready` look at their pollables
//!   without waiting. Every pollable a plugin can make is ready at once
//!   (timers above, the capped stdout/stderr pipes, the closed stdin), so
//!   this only matters if that ever changes: a pollable that is not ready
//!   traps instead of blocking the thread.
//!
//! The rest is wasmtime-wasi's and does not wait either: streams (stdout
//! and stderr are [`CappedPipe`](super::pipe::CappedPipe)s, always
//! writable; stdin is closed, so a read ends at once), `cli` (empty
//! environment, exit, no terminals), the wall clock (frozen), random (at
//! most [`MAX_RANDOM_BYTES`] a call). Filesystem and sockets are not linked
//! at all. The pipeline's watchdog (`pipeline::deliver`) is the second line
//! for a host call that waits all the same.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::p2::bindings::io::poll::{Host as AsyncPoll, HostPollable as AsyncPollable};
use wasmtime_wasi::p2::bindings::{cli, clocks, random, sync};
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};

use super::sandbox::StoreState;

/// Most bytes one `wasi:random` call returns. The host makes them before
/// the plugin's deadline can interrupt it (wasmtime's default is 64 MiB, a
/// noticeable pause per call); a standard library asks for a few bytes.
pub(super) const MAX_RANDOM_BYTES: u64 = 1024 * 1024;

/// How often a pollable is polled before it counts as not ready: a ready
/// future may yield to its executor once or twice before it completes.
const POLLS_BEFORE_REFUSAL: usize = 4;

/// The resolution the frozen monotonic clock reports, nanoseconds.
const FROZEN_RESOLUTION_NS: u64 = 1_000_000_000;

/// Link the WASI interfaces a plugin may import, none of which waits.
pub(super) fn add_to_linker(l: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    type T = StoreState;
    sync::io::error::add_to_linker::<T, Tables>(l, |t| t.ctx().table)?;
    sync::io::streams::add_to_linker::<T, Tables>(l, |t| t.ctx().table)?;
    sync::io::poll::add_to_linker::<T, Sandbox>(l, no_wait)?;
    clocks::monotonic_clock::add_to_linker::<T, Sandbox>(l, no_wait)?;
    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    random::random::add_to_linker::<T, WasiRandom>(l, T::random)?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, T::random)?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, T::random)?;
    Ok(())
}

/// The store's table for [`Sandbox`]'s implementations.
fn no_wait(t: &mut StoreState) -> NoWait<'_> {
    NoWait(t.ctx().table)
}

/// wasmtime-wasi's own `wasi:io` implementations, on the store's table.
struct Tables;
impl HasData for Tables {
    type Data<'a> = &'a mut ResourceTable;
}

/// Our `monotonic-clock` and `poll`, on the store's table.
struct Sandbox;
impl HasData for Sandbox {
    type Data<'a> = NoWait<'a>;
}

/// The store's resource table, seen by the implementations that never wait.
struct NoWait<'a>(&'a mut ResourceTable);

/// A timer in a sandbox whose clock never moves: already due.
struct Due;

#[wasmtime_wasi::async_trait]
impl Pollable for Due {
    async fn ready(&mut self) {}
}

impl NoWait<'_> {
    fn due(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        let due = self.0.push(Due)?;
        subscribe(self.0, due)
    }
}

impl clocks::monotonic_clock::Host for NoWait<'_> {
    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(0)
    }
    fn resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(FROZEN_RESOLUTION_NS)
    }
    fn subscribe_instant(&mut self, _when: u64) -> wasmtime::Result<Resource<DynPollable>> {
        self.due()
    }
    fn subscribe_duration(&mut self, _after: u64) -> wasmtime::Result<Resource<DynPollable>> {
        self.due()
    }
}

/// The outcome of `future` if it completes without waiting; else a trap.
fn without_waiting<F: Future>(what: &str, future: F) -> wasmtime::Result<F::Output> {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..POLLS_BEFORE_REFUSAL {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return Ok(out);
        }
    }
    Err(wasmtime::format_err!(
        "{what} would wait: a plugin cannot wait in the sandbox (nothing it can poll ever \
         becomes ready later)"
    ))
}

impl sync::io::poll::Host for NoWait<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        let waiting = AsyncPoll::poll(self.0, pollables);
        without_waiting("wasi:io/poll.poll", waiting)?
    }
}

impl sync::io::poll::HostPollable for NoWait<'_> {
    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        let waiting = AsyncPollable::block(self.0, pollable);
        without_waiting("wasi:io/poll.pollable.block", waiting)?
    }
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        let waiting = AsyncPollable::ready(self.0, pollable);
        without_waiting("wasi:io/poll.pollable.ready", waiting)?
    }
    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        AsyncPollable::drop(self.0, pollable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_future_that_would_wait_is_refused() {
        assert_eq!(without_waiting("ready", async { 7 }).unwrap(), 7);
        let e = without_waiting("never", std::future::pending::<()>()).unwrap_err();
        assert!(e.to_string().contains("never would wait"), "{e}");
    }

    #[test]
    fn timers_are_due_at_once() {
        let mut table = ResourceTable::new();
        let mut clock = NoWait(&mut table);
        use clocks::monotonic_clock::Host as _;
        let hour = clock.subscribe_duration(3_600_000_000_000).unwrap();
        let far = clock.subscribe_instant(u64::MAX).unwrap();
        use sync::io::poll::{Host as _, HostPollable as _};
        let ready = clock
            .poll(vec![
                Resource::new_borrow(hour.rep()),
                Resource::new_borrow(far.rep()),
            ])
            .unwrap();
        assert_eq!(ready, vec![0, 1]);
        clock.block(Resource::new_borrow(hour.rep())).unwrap();
        assert!(clock.ready(Resource::new_borrow(far.rep())).unwrap());
        clock.drop(hour).unwrap();
        clock.drop(far).unwrap();
        assert_eq!(clock.now().unwrap(), 0);
    }
}

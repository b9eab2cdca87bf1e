//! Running heavy work off the flush coroutine.
//!
//! Output flushes run on a 64 KiB stack with no guard page (`docs/fluent-bit-abi.md` section 3.3): a deep call
//! chain (a TLS handshake, an HTTP client, recursive serialisation of large documents) can
//! overflow it and silently corrupt the heap. [`run`] executes a closure on a fresh thread with
//! an ordinary stack and waits for it, so the closure may borrow the chunk.
//!
//! Budget: the runtime's own frames in a flush use well under 8 KiB; leave the plugin's flush
//! frames below 32 KiB in total, or raise `coro_stack_size` in `[SERVICE]`.

/// Stack size of the offload thread: the size of a main thread's stack on Linux.
pub const OFFLOAD_STACK: usize = 8 << 20;

/// Runs `work` on a thread with a [`OFFLOAD_STACK`]-byte stack and returns its result. Panics in
/// `work` propagate to the caller (where the runtime turns them into a failed flush). Each call
/// starts a thread (tens of microseconds), so use it for work that is heavy anyway.
pub fn run<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    crate::abi::log_scope::run_on_thread("fbp-offload", OFFLOAD_STACK, work)
}

#[cfg(test)]
mod tests {
    #[test]
    fn borrows_and_returns() {
        let data = [1u8, 2, 3];
        let sum: u32 = super::run(|| data.iter().map(|&b| u32::from(b)).sum());
        assert_eq!(sum, 6);
    }

    #[test]
    fn deep_recursion_fits_off_the_coroutine() {
        fn depth(n: u32) -> u32 {
            let pad = std::hint::black_box([0u8; 256]);
            if n == 0 {
                u32::from(pad[0])
            } else {
                depth(n - 1) + 1
            }
        }
        // ~1 MiB of frames: far beyond a 64 KiB coroutine stack.
        assert_eq!(super::run(|| depth(3000)), 3000);
    }
}

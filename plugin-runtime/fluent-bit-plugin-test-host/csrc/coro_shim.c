/* The flush coroutine, laid out like Fluent Bit's libco (lib/flb_libco/amd64.c): a plain stack
 * whose first frame "returns" into a crash stub, entered by a register-swapping jump rather
 * than through glibc's makecontext (whose start frame ends unwinding cleanly). Stepping past
 * that first frame is what crashed Fluent Bit when Rust's panic hook captured a backtrace with
 * RUST_BACKTRACE set: beyond a libco stack lies whatever the heap holds. Here the stub is
 * placed right after a function whose unwind rule puts the caller's frame above the stack top,
 * and the host maps a guard page there, so any unwinder that walks past the first frame faults
 * at once instead of only sometimes. Written for this host; x86-64 System V only. */
#include <stddef.h>

#if defined(__x86_64__) && defined(__linux__)

void fbhost_coro_swap(void **save_sp, void *load_sp);
void fbhost_coro_crash(void);

__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl fbhost_coro_swap\n"
    ".type fbhost_coro_swap,@function\n"
    "fbhost_coro_swap:\n"
    "    pushq %rbp\n"
    "    pushq %rbx\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    "    movq %rsp, (%rdi)\n"
    "    movq %rsi, %rsp\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rbx\n"
    "    popq %rbp\n"
    "    ret\n"
    ".size fbhost_coro_swap, .-fbhost_coro_swap\n"
    ".p2align 4\n"
    ".type fbhost_coro_beyond,@function\n"
    "fbhost_coro_beyond:\n"
    "    .cfi_startproc\n"
    "    .cfi_def_cfa %rsp, 24\n"
    "    .cfi_offset %rip, -8\n"
    "    nop\n"
    "    .cfi_endproc\n"
    ".size fbhost_coro_beyond, .-fbhost_coro_beyond\n"
    ".globl fbhost_coro_crash\n"
    ".type fbhost_coro_crash,@function\n"
    "fbhost_coro_crash:\n"
    "    ud2\n"
    ".size fbhost_coro_crash, .-fbhost_coro_crash\n");

static __thread void (*fbhost_body)(void *);
static __thread void *fbhost_arg;
static __thread void *fbhost_caller_sp;
static __thread void *fbhost_coro_sp;

static void fbhost_coro_entry(void)
{
    fbhost_body(fbhost_arg);
    fbhost_coro_swap(&fbhost_coro_sp, fbhost_caller_sp);
    __builtin_trap(); /* never resumed */
}

int fbhost_coro_supported(void) { return 1; }

/* Runs body(arg) on the stack ending at `top` (16-byte aligned) and returns when it is done. */
void fbhost_coro_run(void *top, void (*body)(void *), void *arg)
{
    void **sp = (void **) top;
    *--sp = (void *) fbhost_coro_crash; /* the first frame's return address */
    *--sp = (void *) fbhost_coro_entry; /* taken by the swap's ret */
    for (int i = 0; i < 6; i++) {
        *--sp = NULL; /* rbp, rbx, r12-r15 */
    }
    fbhost_body = body;
    fbhost_arg = arg;
    fbhost_coro_swap(&fbhost_caller_sp, (void *) sp);
}

#else

int fbhost_coro_supported(void) { return 0; }

void fbhost_coro_run(void *top, void (*body)(void *), void *arg)
{
    (void) top;
    (void) body;
    (void) arg;
}

#endif

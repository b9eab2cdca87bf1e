/* Tells valgrind about the flush coroutine stacks (when its headers are available), so a run
 * under valgrind reports the plugin's bugs rather than the host's stack switching. Without
 * valgrind these are no-ops. */
#include <stddef.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>) && __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#define FBHOST_HAVE_VALGRIND 1
#endif
#endif

unsigned fbhost_stack_register(void *start, void *end)
{
#ifdef FBHOST_HAVE_VALGRIND
    return VALGRIND_STACK_REGISTER(start, end);
#else
    (void) start;
    (void) end;
    return 0;
#endif
}

void fbhost_stack_deregister(unsigned id)
{
#ifdef FBHOST_HAVE_VALGRIND
    VALGRIND_STACK_DEREGISTER(id);
#else
    (void) id;
#endif
}

/* The host paints and scans stack memory that memcheck marked inaccessible when the
 * coroutine returned; the bytes are real (painted or written by the flush), so mark them
 * accessible and defined first. */
void fbhost_mem_defined(void *p, size_t n)
{
#ifdef FBHOST_HAVE_VALGRIND
    VALGRIND_MAKE_MEM_DEFINED(p, n);
#else
    (void) p;
    (void) n;
#endif
}

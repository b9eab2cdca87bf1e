/* The C-variadic `log_print` slot of `struct flb_api`. Stable Rust cannot define a variadic
 * function, so this formats like flb_log_print (one ~4 KiB buffer, longer text truncated) and
 * hands the text to the Rust sink together with the caller's address, which the host uses to
 * attribute the line to the plugin that logged it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#define FBHOST_LOG_BUF 4096

typedef void (*fbhost_log_sink_fn)(int level, const char *msg, size_t len, int truncated,
                                   void *caller);

static fbhost_log_sink_fn fbhost_sink;

void fbhost_log_set_sink(fbhost_log_sink_fn sink) { fbhost_sink = sink; }

void fbhost_log_print(int level, const char *file, int line, const char *fmt, ...)
{
    char buf[FBHOST_LOG_BUF];
    va_list ap;
    int n;
    int truncated = 0;
    void *caller = __builtin_return_address(0);

    (void) file; /* ignored by Fluent Bit as well */
    (void) line;
    if (fmt == NULL) {
        buf[0] = '\0';
        n = 0;
    }
    else {
        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
    }
    if (n < 0) {
        n = 0;
        buf[0] = '\0';
    }
    else if ((size_t) n >= sizeof(buf)) {
        truncated = 1;
        n = (int) sizeof(buf) - 1;
    }
    if (fbhost_sink != NULL) {
        fbhost_sink(level, buf, (size_t) n, truncated, caller);
    }
}

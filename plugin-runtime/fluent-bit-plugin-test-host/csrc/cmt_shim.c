/* Stand-ins for the cmetrics 2.x entry points the fluent-bit executable exports (it is linked
 * with -rdynamic). Plugins find them with dlsym(RTLD_DEFAULT, ...), so this file is built as a
 * shared object and loaded RTLD_GLOBAL by the test host; every call is forwarded to Rust
 * through a table the host installs right after loading it.
 *
 * Signatures as in fluent/cmetrics include/cmetrics/cmt_counter.h and cmt_gauge.h (2.x):
 *   struct cmt_counter *cmt_counter_create(struct cmt *cmt, char *ns, char *subsystem,
 *                                          char *name, char *help,
 *                                          int label_count, char **label_keys);
 *   int cmt_counter_inc(struct cmt_counter *c, uint64_t timestamp,
 *                       int labels_count, char **label_vals);
 *   int cmt_counter_add(struct cmt_counter *c, uint64_t timestamp, double val,
 *                       int labels_count, char **label_vals);
 *   int cmt_counter_set(struct cmt_counter *c, uint64_t timestamp, double val,
 *                       int labels_count, char **label_vals);   (fails if val < current)
 *   int cmt_counter_get_val(struct cmt_counter *c, int labels_count, char **label_vals,
 *                           double *out_val);
 *   struct cmt_gauge *cmt_gauge_create(<same arguments as cmt_counter_create>);
 *   int cmt_gauge_set(g, uint64_t ts, double val, int labels_count, char **label_vals);
 *   int cmt_gauge_add(g, uint64_t ts, double val, int labels_count, char **label_vals);
 *   int cmt_gauge_sub(g, uint64_t ts, double val, int labels_count, char **label_vals);
 *   int cmt_gauge_inc(g, uint64_t ts, int labels_count, char **label_vals);
 *   int cmt_gauge_dec(g, uint64_t ts, int labels_count, char **label_vals);
 *   int cmt_gauge_get_val(g, int labels_count, char **label_vals, double *out_val);
 * Every int-returning call returns 0 on success and -1 on failure. */
#include <stddef.h>
#include <stdint.h>

enum { FBHOST_COUNTER = 0, FBHOST_GAUGE = 1 };
enum { FBHOST_OP_INC, FBHOST_OP_DEC, FBHOST_OP_ADD, FBHOST_OP_SUB, FBHOST_OP_SET };

struct fbhost_cmt_vtable {
    void *(*create)(int kind, void *cmt, const char *ns, const char *subsystem,
                    const char *name, const char *help, int label_count, char **label_keys);
    int (*op)(int kind, void *metric, int op, uint64_t ts, double val, int labels_count,
              char **label_vals);
    int (*get)(int kind, void *metric, int labels_count, char **label_vals, double *out);
};

static const struct fbhost_cmt_vtable *vt;

void fbhost_cmt_set_vtable(const struct fbhost_cmt_vtable *table) { vt = table; }

void *cmt_counter_create(void *cmt, char *ns, char *subsystem, char *name, char *help,
                         int label_count, char **label_keys)
{
    return vt ? vt->create(FBHOST_COUNTER, cmt, ns, subsystem, name, help, label_count,
                           label_keys) : NULL;
}

int cmt_counter_inc(void *c, uint64_t ts, int n, char **vals)
{
    return vt ? vt->op(FBHOST_COUNTER, c, FBHOST_OP_INC, ts, 1.0, n, vals) : -1;
}

int cmt_counter_add(void *c, uint64_t ts, double v, int n, char **vals)
{
    return vt ? vt->op(FBHOST_COUNTER, c, FBHOST_OP_ADD, ts, v, n, vals) : -1;
}

int cmt_counter_set(void *c, uint64_t ts, double v, int n, char **vals)
{
    return vt ? vt->op(FBHOST_COUNTER, c, FBHOST_OP_SET, ts, v, n, vals) : -1;
}

int cmt_counter_get_val(void *c, int n, char **vals, double *out)
{
    return vt ? vt->get(FBHOST_COUNTER, c, n, vals, out) : -1;
}

void *cmt_gauge_create(void *cmt, char *ns, char *subsystem, char *name, char *help,
                       int label_count, char **label_keys)
{
    return vt ? vt->create(FBHOST_GAUGE, cmt, ns, subsystem, name, help, label_count,
                           label_keys) : NULL;
}

int cmt_gauge_set(void *g, uint64_t ts, double v, int n, char **vals)
{
    return vt ? vt->op(FBHOST_GAUGE, g, FBHOST_OP_SET, ts, v, n, vals) : -1;
}

int cmt_gauge_add(void *g, uint64_t ts, double v, int n, char **vals)
{
    return vt ? vt->op(FBHOST_GAUGE, g, FBHOST_OP_ADD, ts, v, n, vals) : -1;
}

int cmt_gauge_sub(void *g, uint64_t ts, double v, int n, char **vals)
{
    return vt ? vt->op(FBHOST_GAUGE, g, FBHOST_OP_SUB, ts, v, n, vals) : -1;
}

int cmt_gauge_inc(void *g, uint64_t ts, int n, char **vals)
{
    return vt ? vt->op(FBHOST_GAUGE, g, FBHOST_OP_INC, ts, 1.0, n, vals) : -1;
}

int cmt_gauge_dec(void *g, uint64_t ts, int n, char **vals)
{
    return vt ? vt->op(FBHOST_GAUGE, g, FBHOST_OP_DEC, ts, 1.0, n, vals) : -1;
}

int cmt_gauge_get_val(void *g, int n, char **vals, double *out)
{
    return vt ? vt->get(FBHOST_GAUGE, g, n, vals, out) : -1;
}

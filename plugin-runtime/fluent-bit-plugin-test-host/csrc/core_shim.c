/* Functions of the Fluent Bit executable that plugins may look up with
 * dlsym(RTLD_DEFAULT, ..): 5.1.1 is linked with ENABLE_EXPORTS (-rdynamic), so every global
 * function of the core is visible to a loaded plugin. The host loads this object RTLD_GLOBAL
 * and forwards the calls to Rust. Only what the SDK uses is provided:
 *
 *   const char *flb_input_name(struct flb_input_instance *);    alias, else "<plugin>.<id>"
 *   const char *flb_output_name(struct flb_output_instance *);
 *   const char *flb_custom_name(struct flb_custom_instance *);
 */
#include <stddef.h>

typedef const char *(*fbhost_name_fn)(int kind, void *ins);

static fbhost_name_fn fbhost_name;

void fbhost_core_set_name_fn(fbhost_name_fn f) { fbhost_name = f; }

static const char *name_of(int kind, void *ins)
{
    return fbhost_name != NULL ? fbhost_name(kind, ins) : NULL;
}

const char *flb_input_name(void *ins) { return name_of(1, ins); }
const char *flb_output_name(void *ins) { return name_of(2, ins); }
const char *flb_custom_name(void *ins) { return name_of(3, ins); }

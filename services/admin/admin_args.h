/* admin_args: the command-line flag reader every kujo-admin command uses. */
#ifndef ADMIN_ARGS_H
#define ADMIN_ARGS_H

#include <stdbool.h>

/* The value of --name value or --name=value at argv[*i] (moving *i past a
 * separate value); NULL if argv[*i] is not that flag, or, with *missing
 * set, if it is but has no value. */
const char *
admin_flag(int argc, char **argv, int *i, const char *name, bool *missing);

#endif

/* kj_assert: a programming-error check that stays on in release builds
 * (NDEBUG does not remove it). On failure it writes file:line and the
 * condition to stderr and aborts. Outside input never reaches one. */
#ifndef KJ_ASSERT_H
#define KJ_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

#define kj_assert(cond)                                                        \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "assertion failed: %s:%d: %s\n", __FILE__,         \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

#endif

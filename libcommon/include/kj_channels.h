/* kj_channels: the channels a complaint can arrive on (docs/ARCHITECTURE.md
 * lists them). Ingest refuses any other; the rules parser refuses a route
 * testing any other, since such a route could never match. One list, so
 * that a new channel is added in one place. */
#ifndef KJ_CHANNELS_H
#define KJ_CHANNELS_H

#include <stdbool.h>
#include <stddef.h>

/* The channels, in the order the architecture document lists them. */
extern const char *const kj_channels[];

/* How many entries kj_channels has. */
extern const size_t kj_channels_count;

/* True if name[len] (not necessarily NUL-terminated) is a known channel. */
bool
kj_channel_valid(const char *name, size_t len);

#endif

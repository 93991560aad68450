/* kj_channels: the one list of complaint channels. */
#include "kj_channels.h"

#include <string.h>

/* line and social came with the inbound webhooks (issue 13): social is a
 * signed source kujo has no channel of its own for. */
const char *const kj_channels[] = {
    "email",     "chat",  "web", "form",       "survey", "x",      "facebook",
    "instagram", "phone", "sms", "app_review", "line",   "social",
};

const size_t kj_channels_count = sizeof kj_channels / sizeof kj_channels[0];

bool
kj_channel_valid(const char *name, size_t len)
{
    for (size_t i = 0; name && i < kj_channels_count; i++)
        if (strlen(kj_channels[i]) == len &&
            memcmp(kj_channels[i], name, len) == 0)
            return true;
    return false;
}

/* kj_lua: the Redis Lua scripts, embedded at build time from
 * libcommon/lua/<name>.lua (libcommon/cmake/kj_embed_lua.cmake), so that
 * they can be read, linted and tested as Lua files. Each is complete,
 * with the *.lib.lua parts it requires in front. */
#ifndef KJ_LUA_H
#define KJ_LUA_H

#include <stddef.h>

/* kj_store's record state machine. */
extern const char kj_lua_store_create[];
extern const char kj_lua_store_transition[];
extern const char kj_lua_store_retry[];
extern const char kj_lua_store_claim[];
extern const char kj_lua_store_replay[];

/* Analytics: count a stream entry once, and its SLA verdict once per
 * complaint (through kj_store's record_sla). */
extern const char kj_lua_analytics_apply[];

/* kj_ratelimit's two token buckets (API key and tenant), taken together. */
extern const char kj_lua_ratelimit_take[];

/* kj_cases: cases, agents and fair assignment (case_lib.lib.lua). */
extern const char kj_lua_case_route[];
extern const char kj_lua_case_event[];
extern const char kj_lua_agent_put[];
extern const char kj_lua_agent_status[];
extern const char kj_lua_clock_claim[];
extern const char kj_lua_clock_fire[];
extern const char kj_lua_clock_resume[];
/* A survey answer, once per token (issue 13). */
extern const char kj_lua_feedback_record[];

/* kj_outbox: deliveries owed, claimed, done or retried (outbox.lib.lua;
 * the keys are in case_lib.lib.lua). */
extern const char kj_lua_outbox_put[];
extern const char kj_lua_outbox_claim[];
extern const char kj_lua_outbox_done[];
extern const char kj_lua_outbox_retry[];
/* ... and an operator's replay or drop of a dead job (kujo-admin dead). */
extern const char kj_lua_outbox_replay[];
extern const char kj_lua_outbox_drop[];
/* Incidents (issue 18, analytics_incident): open, resolve, and owe one
 * batch of an incident's customer broadcast. */
extern const char kj_lua_incident_open[];
extern const char kj_lua_incident_resolve[];
extern const char kj_lua_incident_owe[];

typedef struct {
    const char *name;   /* the file's name without .lua */
    const char *source; /* the script as sent to Redis */
} kj_lua_script_t;

/* Every embedded script, for tests and tools. */
extern const kj_lua_script_t kj_lua_scripts[];
extern const size_t kj_lua_n_scripts;

#endif

#ifndef BERTH_HOOKS_H
#define BERTH_HOOKS_H
#include "plan.h"
/* Runs every hook of `phase` in plan order with the state JSON on stdin; the first failure is fatal. */
void hooks_run(const struct plan *p, uint64_t phase, const char *state_json);
#endif

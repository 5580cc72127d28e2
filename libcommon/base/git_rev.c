/* git_rev.c: see git_rev.h. */
#include "base/git_rev.h"

#ifndef NMOE_GIT_REV
#define NMOE_GIT_REV "unknown"
#endif

const char *nmoe_git_rev(void) { return NMOE_GIT_REV[0] ? NMOE_GIT_REV : "unknown"; }

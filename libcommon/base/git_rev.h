/* git_rev.h: the git revision of the source tree this binary was built from.
 *
 * The Makefile passes it as NMOE_GIT_REV (git describe --always --dirty, so a build
 * with uncommitted changes says so); "unknown" when the tree was not a git checkout.
 * Only git_rev.c sees the macro, so a new commit rebuilds one object, not the tree. */
#ifndef NMOE_GIT_REV_H
#define NMOE_GIT_REV_H

const char *nmoe_git_rev(void);

#endif

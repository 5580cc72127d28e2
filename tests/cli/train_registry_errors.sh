#!/usr/bin/env bash
# A registry that cannot be written stops the run before it starts (exit 1), naming the
# file and the reason, and leaves nothing behind: not an out_dir, not a changed file.
. "$(dirname "$0")/train_common.bash"
require_tools sqlite3
make_data
write_config

expect_fail 1 "nodir/reg.db: run registry: cannot open: unable to open database file (No such file or directory)" \
    nmoe-train tiny.toml --registry nodir/reg.db --set out_dir=a
[ ! -e a ] || fail "a refused run made its out_dir"
echo x >afile
expect_fail 1 "afile/reg.db: run registry: cannot open: unable to open database file (Not a directory)" \
    nmoe-train tiny.toml --registry afile/reg.db --set out_dir=a
head -c 4096 /dev/urandom >junk.db
cp junk.db junk.orig
expect_fail 1 "junk.db: run registry: cannot set WAL mode: file is not a database" \
    nmoe-train tiny.toml --registry junk.db --set out_dir=a
cmp -s junk.db junk.orig || fail "the junk file was changed"
[ ! -e a ] || fail "a refused run made its out_dir"
# A registry of a newer schema is refused, not guessed at.
sqlite3 new.db 'create table schema_version (version integer not null); insert into schema_version values (99)'
expect_fail 1 "new.db: run registry: schema version 99, newer than this build's 1" \
    nmoe-train tiny.toml --registry new.db --set out_dir=a
# A directory is not a registry.
mkdir adir
expect_fail 1 "adir: run registry: cannot open" nmoe-train tiny.toml --registry adir --set out_dir=a
[ ! -e a ] || fail "a refused run made its out_dir"
echo "registry errors: ok"

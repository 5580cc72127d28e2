# train_mpi_common.bash: sourced by tests/cli/train_mpi_*.sh (not a test itself). The
# train fixtures (train_common.bash) plus `mpi N ARGS...`: nmoe-train's data-parallel
# run on N ranks of this machine, set up for a container without a network (shared
# memory and self transports only, no remote launcher, ranks may outnumber cores, root
# allowed) and one OpenMP thread per rank.
. "$NMOE_TOP/tests/cli/train_common.bash"
command -v mpirun >/dev/null || { echo "skip: no mpirun (make deps installs openmpi-bin)"; exit 77; }
export OMP_NUM_THREADS=1
export OMPI_MCA_btl=self,vader OMPI_MCA_plm=isolated OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi() {
    local n=$1
    shift
    timeout 120 mpirun --oversubscribe --allow-run-as-root -np "$n" nmoe-train "$@"
}

# A stream's lines that must not depend on the rank count: all but meta (which says
# how many ranks), time stripped, checkpoint paths normalised.
global_lines() { strip_time "$1" | grep -v '"kind":"meta"' | norm_paths; }

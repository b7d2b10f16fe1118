#!/usr/bin/env bash
# tests/molecule.sh SCENARIO...: `molecule test` of each scenario of extensions/molecule, each on its own VM of
# tests/vm; MOLECULE_JOBS (default 1) of them at once. With more than one at a time each scenario's output goes to
# $MOLECULE_CACHE/SCENARIO.log and only a summary line (and the log's tail on failure) is printed.
# Molecule, Ansible and the caches they keep stay under $MOLECULE_CACHE (make molecule sets it below
# $KMOD_TEST_CACHE), never in ~/.ansible or ~/.cache. Exits non-zero when any scenario failed.
set -u
: "${MOLECULE_CACHE:?set MOLECULE_CACHE (make molecule does)}"
jobs=${MOLECULE_JOBS:-1}
export ANSIBLE_HOME=$MOLECULE_CACHE/ansible-home XDG_CACHE_HOME=$MOLECULE_CACHE/xdg-cache

run_one() {
    local s=$1 start=$SECONDS rc
    mkdir -p "$MOLECULE_CACHE/$s"
    MOLECULE_EPHEMERAL_DIRECTORY=$MOLECULE_CACHE/$s molecule test -s "$s"
    rc=$?
    if [ $rc -eq 0 ]; then
        echo "molecule scenario $s passed in $((SECONDS - start)) s"
    else
        echo "molecule scenario $s FAILED (rc $rc) after $((SECONDS - start)) s"
    fi
    return $rc
}

start=$SECONDS
failed=0
if [ "$jobs" -le 1 ]; then
    for s in "$@"; do
        run_one "$s" || failed=1
    done
else
    pids=() names=()
    for s in "$@"; do
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
        mkdir -p "$MOLECULE_CACHE"
        ( run_one "$s" > "$MOLECULE_CACHE/$s.log" 2>&1; rc=$?; tail -n 1 "$MOLECULE_CACHE/$s.log"; exit $rc ) &
        pids+=($!) names+=("$s")
    done
    for i in "${!pids[@]}"; do
        if ! wait "${pids[$i]}"; then
            failed=1
            echo "--- the end of $MOLECULE_CACHE/${names[$i]}.log:"
            tail -n 60 "$MOLECULE_CACHE/${names[$i]}.log"
        fi
    done
fi
echo "molecule: $# scenario(s) in $((SECONDS - start)) s"
exit $failed

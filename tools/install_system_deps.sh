#!/usr/bin/env bash
# System packages the full test suite needs (`make sysdeps`, run by `make test`):
#   slurmctld slurmd slurm-client munge   a one-node SLURM cluster (tests/test_slurm.py; about 3.5 MB)
#   chromium                              renders the HTML report for its screenshot test (tests/test_report_html.py)
#
#   tools/install_system_deps.sh                  # all of them, as root on Debian/Ubuntu; idempotent
#   tools/install_system_deps.sh munge slurmd     # only these (tests/test_slurm.py installs what it needs)
#
# Installs the missing ones. Without root or apt-get it installs nothing, says why, and exits 0:
# the tests that need them skip with that reason, and everything else still runs. It never starts a
# daemon and never writes /etc/slurm/slurm.conf (tests start their own cluster in a scratch folder,
# src/mmdiag/cluster/local_slurm.py): SLURM client tools without a configured controller fail fast,
# while a stale slurm.conf would stall every Snakemake start-up for about 10 s.
set -euo pipefail

PACKAGES=(slurmctld slurmd slurm-client munge chromium)
if [ "$#" -gt 0 ]; then
    PACKAGES=("$@")
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "install_system_deps: ${PACKAGES[*]} already installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install_system_deps: not root, skipping ${missing[*]} (tests needing them will be skipped)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_system_deps: no apt-get, skipping ${missing[*]} (tests needing them will be skipped)"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# policy-rc.d keeps the packages' init scripts from starting daemons (no systemd in containers/CI)
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
fi
trap '[ "$created_policy" -eq 1 ] && rm -f "$policy"' EXIT

if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
fi
echo "install_system_deps: installed ${missing[*]}"

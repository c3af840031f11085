#!/usr/bin/env bash
# Install the system packages the test servers need (PostgreSQL 15, MariaDB server and client).
#
# Idempotent and fast when everything is present: apt is touched only when a package is
# missing, and `apt-get update` then runs once. The packaged system services are kept from
# starting (policy-rc.d returning 101 during the install) and stopped afterwards should apt
# start them anyway; the tests run their own instances on free loopback ports
# (see tests/support/servers.py).
set -euo pipefail

PG_BIN=/usr/lib/postgresql/15/bin

missing=()

# have NAME FALLBACK_PATH: NAME is on PATH or FALLBACK_PATH is executable (/usr/sbin may be
# missing from a non-root PATH).
have() {
  command -v "$1" >/dev/null 2>&1 || [[ -x "$2" ]]
}

if [[ ! -x "$PG_BIN/postgres" || ! -x "$PG_BIN/initdb" || ! -x "$PG_BIN/pg_ctl" ]]; then
  missing+=(postgresql-15)
fi
if ! have mariadbd /usr/sbin/mariadbd || ! have mariadb-install-db /usr/bin/mariadb-install-db; then
  missing+=(mariadb-server)
fi
if ! have mariadb /usr/bin/mariadb; then
  missing+=(mariadb-client)
fi

# Trino is fetched from Maven Central with Maven.
if ! have mvn /usr/bin/mvn; then
  missing+=(maven)
fi
# The governance report is checked in a real headless browser, with CJK fonts to render it.
if ! have chromium /usr/bin/chromium; then
  missing+=(chromium)
fi
if [[ ! -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ]]; then
  missing+=(fonts-noto-cjk)
fi
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-system-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "install-system-deps: installing ${missing[*]}" >&2

# Keep the packaged services from starting. An existing policy-rc.d is left as it is.
POLICY=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e "$POLICY" ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 0755 "$POLICY"
  created_policy=1
fi
cleanup() {
  if [[ $created_policy -eq 1 ]]; then
    "${SUDO[@]}" rm -f "$POLICY"
  fi
}
trap cleanup EXIT

APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
"${APT[@]}" update -qq
"${APT[@]}" install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${missing[@]}" >/dev/null

# Should a service have been started anyway (no policy-rc.d support), stop it.
for svc in mariadb postgresql; do
  if command -v service >/dev/null 2>&1 &&
    "${SUDO[@]}" service "$svc" status >/dev/null 2>&1; then
    echo "install-system-deps: stopping system service $svc" >&2
    "${SUDO[@]}" service "$svc" stop >/dev/null 2>&1 || true
  fi
done

echo "install-system-deps: done" >&2

#!/usr/bin/env bash
# Make sure the programs of the scale-out tests are installed (shop_pipeline_tests/cluster_fixtures.py):
# a Java runtime for the real Spark cluster (the pyspark package brings Spark's jars, not a JVM) and
# the PostgreSQL 15 server programs (initdb, pg_ctl) for the Postgres Dagster instance. Installs with
# apt only what is missing, so it is safe to run before every test run: bash scripts/ensure_services.sh
set -euo pipefail

have_java() {
    if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
        return 0
    fi
    command -v java >/dev/null 2>&1
}

have_postgres() {
    # on the PATH, or where Debian's postgresql-NN packages put them
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        return 0
    fi
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null
}

missing=()
have_java || missing+=(openjdk-17-jre-headless)
have_postgres || missing+=(postgresql-15)
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "missing for the Spark / Postgres tests: ${missing[*]}; installing needs root (no passwordless sudo here):" >&2
    echo "  run 'sudo apt-get install -y ${missing[*]}' (those tests skip until then)" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing for the Spark / Postgres tests: ${missing[*]}, and there is no apt-get on this machine:" >&2
    echo "  install a Java 17 runtime and the PostgreSQL 15 server with the system's package manager" >&2
    exit 1
fi

echo "installing ${missing[*]} for the Spark / Postgres tests"
export DEBIAN_FRONTEND=noninteractive
# The server's package would create (and start) a default cluster: the tests start their own, so
# none is made (postgresql-common reads createcluster.conf; dpkg keeps this file as ours).
if [[ " ${missing[*]} " == *" postgresql-15 "* ]] && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    $SUDO mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
# A fresh machine often has no package lists yet: refresh them only when the first try fails.
apt_install=($SUDO apt-get install -y --no-install-recommends
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}")
if ! "${apt_install[@]}"; then
    $SUDO apt-get update
    "${apt_install[@]}"
fi
if ! have_java || ! have_postgres; then
    echo "apt-get installed ${missing[*]} but java or initdb is still not found" >&2
    exit 1
fi
java -version 2>&1 | head -1

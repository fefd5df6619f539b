#!/usr/bin/env bash
# Copies Kafka's jars (and dependencies) from Maven Central into $OUTPOST_KAFKA_LIBS
# (default ~/.cache/outpost/kafka-4.1.2/libs). Idempotent: a complete cache is left alone.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")"
libs="${OUTPOST_KAFKA_LIBS:-$HOME/.cache/outpost/kafka-$version/libs}"
command -v java >/dev/null || { echo "fetch.sh: java not found; install a JDK 17+ (Debian: openjdk-17-jdk-headless)" >&2; exit 1; }
command -v mvn >/dev/null || { echo "fetch.sh: mvn not found; install Maven (Debian: maven)" >&2; exit 1; }
if [ -f "$libs/.complete" ]; then echo "kafka $version jars already in $libs"; exit 0; fi
mkdir -p "$libs"
mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -DoutputDirectory="$libs" -DincludeScope=runtime
touch "$libs/.complete"
echo "kafka $version jars in $libs ($(ls "$libs" | wc -l) files)"

#!/usr/bin/env bash
# JVM tests of the Kotlin core against the Python runtime's golden files and the real exported
# .tflite artifacts (LiteRT's C API in libLiteRt.so, called through JNA).
#
#   android_demo/run_core_tests.sh GOLDEN_DIR
#
# First use installs and caches the toolchain: the Kotlin compiler from npm (kotlin-compiler,
# pinned below) into android_demo/.tools/, and Debian's junit5 and libjna-java with apt-get
# when they are missing. Compiled classes are cached in android_demo/build/jvm/ and rebuilt
# only when a source changes. It also compiles the app's Android-free sources against the
# core (the app module itself needs the Android SDK and Google Maven; see README.md).
# Prints "N passed, N failed" last; exits non-zero on any failure.
set -euo pipefail

KOTLIN_COMPILER_VERSION=2.4.20
# The app builds with Kotlin 2.2 (gradle/libs.versions.toml): hold the sources to that language and API level.
KOTLIN_LEVEL=2.2
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
TOOLS="$HERE/.tools"
BUILD="$HERE/build/jvm"
KOTLINC="$TOOLS/node_modules/kotlin-compiler/bin/kotlinc"
KOTLIN_LIB="$TOOLS/node_modules/kotlin-compiler/lib"
JUNIT=/usr/share/java/junit-platform-console-standalone.jar
JNA=/usr/share/java/jna.jar
PYTHON="${PETFACE_PYTHON:-$REPO/.venv/bin/python}"

die() { echo "run_core_tests.sh: error: $*" >&2; exit 2; }

[ $# -eq 1 ] || die "usage: android_demo/run_core_tests.sh GOLDEN_DIR"
GOLDEN="$(cd "$1" 2>/dev/null && pwd)" || die "$1: no such golden directory"
[ -f "$GOLDEN/golden.json" ] || die "$GOLDEN: no golden.json (built by: python -m tests.pipeline build/test-pipeline)"
[ -x "$PYTHON" ] || die "$PYTHON: no Python (set PETFACE_PYTHON or run make setup)"
LITERT="${PETFACE_LITERT_LIB:-$(ls "$REPO"/.venv/lib/python3*/site-packages/ai_edge_litert/libLiteRt.so 2>/dev/null | head -n 1)}"
[ -f "$LITERT" ] || die "no libLiteRt.so (install the ai-edge-litert wheel into .venv, or set PETFACE_LITERT_LIB)"
command -v java >/dev/null || die "no Java on PATH; the Kotlin compiler and the tests need JDK 17+"

# --- toolchain, installed once ------------------------------------------------------------
if [ "$(cat "$TOOLS/kotlin-compiler.version" 2>/dev/null)" != "$KOTLIN_COMPILER_VERSION" ] || [ ! -x "$KOTLINC" ]; then
    command -v npm >/dev/null || die "npm is needed to install the Kotlin compiler (npm package kotlin-compiler)"
    echo "[android] installing kotlin-compiler@$KOTLIN_COMPILER_VERSION from npm into $TOOLS" >&2
    mkdir -p "$TOOLS"
    npm install --prefix "$TOOLS" --no-audit --no-fund --no-save --loglevel=error \
        "kotlin-compiler@$KOTLIN_COMPILER_VERSION" >&2
    echo "$KOTLIN_COMPILER_VERSION" > "$TOOLS/kotlin-compiler.version"
fi
missing=()
for pkg in junit5 libjna-java; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "[android] installing ${missing[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q "${missing[@]}" >&2
fi

# --- compile, cached by a hash of the inputs -----------------------------------------------
mkdir -p "$BUILD"
STDLIB="$KOTLIN_LIB/kotlin-stdlib.jar"

# compile NAME CLASSPATH SOURCES...: kotlinc SOURCES into $BUILD/NAME.jar unless nothing changed.
compile() {
    local name="$1" classpath="$2"; shift 2
    local stamp="$BUILD/$name.sha256" jar="$BUILD/$name.jar"
    local digest
    digest="$( { echo "$KOTLIN_COMPILER_VERSION $KOTLIN_LEVEL $classpath"; printf '%s\n' "$@"; cat "$@"; for f in ${classpath//:/ }; do
        [ -f "$f" ] && sha256sum "$f"; done; } | sha256sum | cut -d' ' -f1)"
    if [ -f "$jar" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$digest" ]; then
        return
    fi
    echo "[android] compiling $name ($# files)" >&2
    rm -f "$jar" "$stamp"
    "$KOTLINC" -nowarn -jvm-target 17 -language-version "$KOTLIN_LEVEL" -api-version "$KOTLIN_LEVEL" \
        -cp "$classpath" -d "$jar" "$@" 2>&1 \
        | grep -v "^warning: unable to find kotlin-stdlib" >&2 || true
    [ -f "$jar" ] || die "compiling $name failed"
    echo "$digest" > "$stamp"
}

mapfile -t CORE_SRC < <(find "$HERE/core/src/main/kotlin" -name '*.kt' | sort)
mapfile -t FIXTURES_SRC < <(find "$HERE/core/src/testFixtures/kotlin" -name '*.kt' | sort)
mapfile -t TEST_SRC < <(find "$HERE/core/src/test/kotlin" "$HERE/app/src/test/kotlin" -name '*.kt' | sort)
# The app's sources that use no Android or LiteRT class: they must compile against the core alone.
mapfile -t APP_PURE < <(find "$HERE/app/src/main/kotlin" -name '*.kt' -print0 | sort -z \
    | xargs -0 grep -L -E '^import (android|androidx|org\.tensorflow|com\.google)\.')
[ ${#APP_PURE[@]} -gt 0 ] || die "found no Android-free app sources to check"

compile core "$STDLIB" "${CORE_SRC[@]}"
compile app-pure "$STDLIB:$BUILD/core.jar" "${APP_PURE[@]}"
echo "[android] app sources compiled against the core: ${APP_PURE[*]#$HERE/app/src/main/kotlin/}" >&2
compile core-fixtures "$STDLIB:$BUILD/core.jar:$JUNIT:$JNA" "${FIXTURES_SRC[@]}"
compile tests "$STDLIB:$BUILD/core.jar:$BUILD/app-pure.jar:$BUILD/core-fixtures.jar:$JUNIT:$JNA" "${TEST_SRC[@]}"

# --- run ------------------------------------------------------------------------------------
set +e
java \
    -Dpetface.golden="$GOLDEN" -Dpetface.litert="$LITERT" -Dpetface.python="$PYTHON" \
    -jar "$JUNIT" \
    --class-path "$STDLIB:$JNA:$BUILD/core.jar:$BUILD/app-pure.jar:$BUILD/core-fixtures.jar:$BUILD/tests.jar" \
    --scan-class-path "$BUILD/tests.jar" \
    --disable-banner --disable-ansi-colors --details=tree --fail-if-no-tests 2>&1 \
    | grep --line-buffered -v -E '^(INFO|WARNING): ' | tee "$BUILD/last-run.log"  # LiteRT's native start-up log
status=${PIPESTATUS[0]}
set -e

# The launcher's summary box: "[        12 tests successful      ]" and so on.
count() {
    local n
    n="$(sed -n -E "s/^\[ *([0-9]+) $1 .*/\1/p" "$BUILD/last-run.log" | head -n 1)"
    echo "${n:-0}"
}
passed="$(count 'tests successful')"
failed=$(( $(count 'tests failed') + $(count 'tests aborted') + $(count 'containers failed') ))
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]

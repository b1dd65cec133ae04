#!/usr/bin/env bash
# Runs PetFaceKit's XCTest suite on Linux with `swift test` inside a cached Debian trixie chroot
# (Debian's swiftlang; no Swift toolchain exists for the host's Debian release).
#
#   ios_demo/run_swift_tests.sh GOLDEN_DIR [SWIFT_TEST_ARGS...]   build the chroot if needed, then test
#                                            against GOLDEN_DIR (extra arguments go to `swift test`, e.g. --filter)
#   ios_demo/run_swift_tests.sh --setup      only build (and cache) the chroot
#
# The chroot lives in $PETFACE_SWIFT_CHROOT (default: <repo>/.tools/swift-chroot). It is made once,
# with packages from the Debian mirror the host's apt already uses. When it cannot be made here
# (not root, too little disk, no debootstrap, mirror unreachable) the script prints a SKIPPED line
# with the reason and exits 0; a test failure exits 1; bad arguments exit 2.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
PACKAGE="$HERE/PetFaceKit"
CHROOT=${PETFACE_SWIFT_CHROOT:-$REPO/.tools/swift-chroot}
SUITE=trixie
PACKAGES=swiftlang,ca-certificates,libc6-dev,libstdc++-14-dev
READY=.petface-swift-ready  # written when debootstrap finished; a chroot without it is rebuilt
NEED_GB=6  # the finished chroot is ~3.5 GB; debootstrap needs headroom for the .debs

usage() { echo "usage: $0 GOLDEN_DIR [SWIFT_TEST_ARGS...] | --setup" >&2; exit 2; }
skip() { echo "SKIPPED: Swift tests not run: $*"; exit 0; }

[[ $# -ge 1 ]] || usage
SETUP_ONLY=0
if [[ $1 == --setup ]]; then
    [[ $# -eq 1 ]] || usage
    SETUP_ONLY=1
else
    GOLDEN=$(cd "$1" 2>/dev/null && pwd) || { echo "error: golden dir '$1' not found (expected the output of tests/golden.py: golden.json, decoded/, pixels/)" >&2; exit 2; }
    [[ -f $GOLDEN/golden.json ]] || { echo "error: $GOLDEN/golden.json not found (expected the output of tests/golden.py)" >&2; exit 2; }
    shift
fi

# The first apt "deb" URI of the host that serves the main Debian archive (not security / updates).
debian_mirror() {
    local uri
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -vE '^[[:space:]]*#' | grep -oE '(https?|file)://[^ ]+/debian/?( |$)' | grep -v security | head -n1 | tr -d ' ')
    echo "${uri:-}"
}

make_chroot() {
    [[ $(id -u) -eq 0 ]] || skip "building the Swift chroot needs root (debootstrap, chroot, mount); run as root or set PETFACE_SWIFT_CHROOT to a ready chroot"
    local parent free_gb mirror log start partial
    parent=$(dirname "$CHROOT")
    mkdir -p "$parent" || skip "cannot create $parent"
    free_gb=$(( $(df -Pk "$parent" | awk 'NR==2 {print $4}') / 1024 / 1024 ))
    (( free_gb >= NEED_GB )) || skip "only ${free_gb} GB free under $parent; the Swift chroot needs ${NEED_GB} GB"
    if ! command -v debootstrap >/dev/null; then
        echo "[swift] installing debootstrap with apt-get ..." >&2
        { apt-get install -y -q debootstrap || { apt-get update -q && apt-get install -y -q debootstrap; }; } >&2 ||
            skip "debootstrap is missing and apt-get could not install it"
    fi
    mirror=$(debian_mirror)
    [[ -n $mirror ]] || skip "no Debian mirror found in /etc/apt/sources.list*"
    partial="$CHROOT.partial"
    log="$parent/swift-chroot-setup.log"
    # A half-made chroot from an interrupted run may still have mounts; never rm -rf through them.
    unmount_all "$partial"
    unmount_all "$CHROOT"
    rm -rf --one-file-system "$partial" "$CHROOT"
    echo "[swift] building a Debian $SUITE chroot with swiftlang in $CHROOT from $mirror (once; ~3 min, 3.5 GB; log: $log) ..." >&2
    start=$SECONDS
    if ! nice -n 10 debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$partial" "$mirror" >"$log" 2>&1; then
        unmount_all "$partial"
        skip "debootstrap of Debian $SUITE from $mirror failed (last line: $(tail -n1 "$log")); full log: $log"
    fi
    unmount_all "$partial"
    touch "$partial/$READY"
    mv "$partial" "$CHROOT"
    echo "[swift] chroot ready in $((SECONDS - start)) s" >&2
}

# Every mount point at or below $1, deepest first.
unmount_all() {
    local root=$1 m
    [[ -d $root ]] || return 0
    root=$(realpath "$root")
    awk -v r="$root" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/mounts | sort -r |
        while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
}

# One run at a time: concurrent runs would both build the chroot, or share mount points and build folder.
mkdir -p "$(dirname "$CHROOT")" 2>/dev/null || skip "cannot create $(dirname "$CHROOT")"
exec 9>"$CHROOT.lock" || skip "cannot write $CHROOT.lock"
flock 9

[[ -f $CHROOT/$READY ]] || make_chroot
(( SETUP_ONLY )) && { echo "[swift] chroot ready: $CHROOT"; exit 0; }
[[ $(id -u) -eq 0 ]] || skip "running swift in the chroot needs root (chroot, mount)"

INTEROP=$(mktemp -d)
cleanup() { unmount_all "$CHROOT"; rm -rf "$INTEROP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# Gallery files cross the language boundary both ways: Python writes one for Swift to read here,
# and reads back the one Swift writes (after the run). Needs the project's venv.
PY="$REPO/.venv/bin/python"
INTEROP_ENV=()
if [[ -x $PY ]]; then
    (cd "$REPO" && "$PY" "$HERE/gallery_interop.py" write "$GOLDEN" "$INTEROP/python.gallery") >&2 ||
        { echo "error: the Python side of the gallery interop test failed (above)" >&2; exit 1; }
    INTEROP_ENV=(PETFACE_INTEROP_DIR=/work/interop)
else
    echo "SKIPPED: gallery-file interop with Python: no $PY (run make setup)"
fi

mkdir -p "$CHROOT/proc" "$CHROOT/dev" "$CHROOT/sys" "$CHROOT/work/PetFaceKit" "$CHROOT/work/golden" "$CHROOT/work/interop" \
    "$CHROOT/work/app"
mount -t proc proc "$CHROOT/proc" 2>/dev/null ||
    skip "cannot mount proc into $CHROOT (this container lacks mount privileges)"
mount --rbind /dev "$CHROOT/dev"
mount --rbind /sys "$CHROOT/sys"
# Slaves: unmounting inside the chroot must never propagate back to the host's /dev and /sys.
mount --make-rslave "$CHROOT/dev"
mount --make-rslave "$CHROOT/sys"
mount --bind "$PACKAGE" "$CHROOT/work/PetFaceKit"
mount --bind "$GOLDEN" "$CHROOT/work/golden"
mount -o remount,bind,ro "$CHROOT/work/golden"
mount --bind "$INTEROP" "$CHROOT/work/interop"
mount --bind "$HERE/PetFaceDemo.swiftpm/Sources" "$CHROOT/work/app"
mount -o remount,bind,ro "$CHROOT/work/app"

# The build directory stays inside the chroot (cached between runs), so the source tree stays clean.
LOG="$INTEROP/swift-test.log"
set +e
nice -n 10 chroot "$CHROOT" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 \
    PETFACE_GOLDEN_DIR=/work/golden "${INTEROP_ENV[@]}" \
    swift test --package-path /work/PetFaceKit --scratch-path /var/cache/petfacekit-build "$@" 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -cE "^Test Case '.*' passed" "$LOG" || true)
failed=$(grep -cE "^Test Case '.*' failed" "$LOG" || true)
skipped=$(grep -cE "^Test Case '.*' skipped" "$LOG" || true)

# Python reads the gallery file the Swift test wrote: counted as one more test.
if (( ${#INTEROP_ENV[@]} )); then
    if [[ ! -f $INTEROP/swift.gallery ]]; then
        echo "SKIPPED: Python check of swift.gallery: no Swift test wrote it (filtered out or failed above)"
    elif (cd "$REPO" && "$PY" "$HERE/gallery_interop.py" check "$GOLDEN" "$INTEROP/swift.gallery"); then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
fi

# The app and the Apple glue need SwiftUI, UIKit, CoreML and Vision, absent on Linux: they are parsed
# (syntax only, no type checking) so that at least a typo cannot reach Xcode. Counted as one more test.
if nice -n 10 chroot "$CHROOT" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 \
    sh -c 'swiftc -parse /work/app/*.swift /work/PetFaceKit/Sources/PetFaceKit/Apple/*.swift'; then
    passed=$((passed + 1))
    echo "Apple-only sources parse: $(ls "$HERE"/PetFaceDemo.swiftpm/Sources/*.swift "$PACKAGE"/Sources/PetFaceKit/Apple/*.swift | wc -l) files"
else
    echo "error: the app or Apple glue sources do not parse (above)" >&2
    failed=$((failed + 1))
fi

echo "Swift PetFaceKit: $passed passed, $failed failed"
(( skipped == 0 )) || echo "Swift PetFaceKit: $skipped skipped (see the XCTSkip reasons above)"
if (( status != 0 || failed > 0 || passed == 0 )); then
    echo "error: Swift tests failed (swift test exit status $status, $failed failed)" >&2
    exit 1
fi

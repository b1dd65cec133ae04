#!/usr/bin/env bash
# Drops a petface-export output into the iOS app: copies one CoreML artifact (.mlpackage) and a
# manifest.json reduced to it into PetFaceDemo.swiftpm/Sources/Model, replacing what was there.
#
#   ios_demo/add_model.sh EXPORT_DIR [ARTIFACT_ID]
#
# EXPORT_DIR is a `petface-export` output folder (manifest.json + artifacts). Without ARTIFACT_ID it takes
# the first CoreML artifact that *passed* verification, preferring coreml-fp16, coreml-fp32, coreml-w8,
# coreml-w8a8. When none passed (CoreML exported on Linux is "not verifiable here": CoreML predicts only on
# Apple platforms), it copies the first one that did not fail, with a loud warning, and the app shows it
# as not verified; `petface-verify EXPORT_DIR` on a Mac verifies it. Failed artifacts are refused.
# PETFACE_IOS_MODEL_DIR overrides the destination (tests).
# Needs only bash and python3 (standard library), so it runs on a Mac without the project's venv.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODEL_DIR=${PETFACE_IOS_MODEL_DIR:-$HERE/PetFaceDemo.swiftpm/Sources/Model}

fail() { echo "add_model.sh: error: $*" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || fail "usage: ios_demo/add_model.sh EXPORT_DIR [ARTIFACT_ID]"
EXPORT_DIR=$1
[[ -f $EXPORT_DIR/manifest.json ]] || fail "$EXPORT_DIR/manifest.json not found (expected a petface-export output folder)"
[[ -d $MODEL_DIR ]] || fail "$MODEL_DIR: no such folder"
command -v python3 >/dev/null || fail "python3 not found (needed to read manifest.json)"

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
# Pick the artifact and write the reduced manifest into the staging folder; prints "id<TAB>path<TAB>threshold<TAB>status".
if ! choice=$(python3 - "$EXPORT_DIR/manifest.json" "${2:-}" "$STAGE/manifest.json" 2>&1 <<'PY'
import json, os, sys
src, wanted, out = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    manifest = json.load(open(src))
except (OSError, ValueError) as exc:
    sys.exit(f"{src}: not valid JSON ({exc})")
if manifest.get("schema") != "petface-manifest":
    sys.exit(f"{src}: not a petface manifest (expected schema 'petface-manifest')")
if manifest.get("schema_version") != 1:  # the major version; a newer schema_minor only adds fields
    sys.exit(f"{src}: manifest schema version {manifest.get('schema_version')} is not supported (reads 1, any minor)")
coreml = [a for a in manifest.get("artifacts", []) if a.get("format") == "coreml"]
present = [a for a in coreml if os.path.exists(os.path.join(os.path.dirname(src), a["path"]))]
usable = [a for a in present if not a["status"].startswith("failed") and a.get("input") and a.get("output")]
if wanted:
    chosen = next((a for a in manifest.get("artifacts", []) if a["id"] == wanted), None)
    if chosen is None:
        sys.exit(f"{src}: no artifact '{wanted}'; have {[a['id'] for a in manifest.get('artifacts', [])]}")
    if chosen.get("format") != "coreml" or chosen not in present:
        sys.exit(f"{src}: '{wanted}' is not a CoreML artifact whose file is in the folder "
                 f"(format {chosen.get('format')}, path {chosen['path']})")
    if not (chosen.get("input") and chosen.get("output")):
        sys.exit(f"{src}: '{wanted}' has no input/output contract in the manifest")
    if chosen["status"].startswith("failed"):
        sys.exit(f"{src}: '{wanted}' has status '{chosen['status']}'{': ' + chosen['error'] if chosen.get('error') else ''}")
else:
    order = ["coreml-fp16", "coreml-fp32", "coreml-w8", "coreml-w8a8"]
    # Verified artifacts first, then the preferred precision.
    usable.sort(key=lambda a: (a["status"] != "passed", order.index(a["id"]) if a["id"] in order else len(order)))
    if not usable:
        sys.exit(f"{src}: no usable CoreML artifact (have {[(a['id'], a['status']) for a in coreml]}); "
                 "export one with: petface-export --checkpoint CKPT --output-dir DIR --formats coreml --fp16")
    chosen = usable[0]
name = os.path.basename(chosen["path"].rstrip("/"))
json.dump({**manifest, "artifacts": [{**chosen, "path": name}]}, open(out, "w"), indent=2)
threshold = chosen.get("thresholds", {}).get("best_accuracy", "none")
print(f"{chosen['id']}\t{chosen['path']}\t{threshold}\t{chosen['status']}")
PY
); then
    fail "$(tail -n1 <<<"$choice")"
fi
IFS=$'\t' read -r ID RELPATH THRESHOLD STATUS <<<"$choice"

# Replace the previous model (keeping the folder's README and .gitignore).
find "$MODEL_DIR" -mindepth 1 -maxdepth 1 ! -name README.md ! -name .gitignore -exec rm -rf {} +
cp -R "$EXPORT_DIR/$RELPATH" "$MODEL_DIR/"
cp "$STAGE/manifest.json" "$MODEL_DIR/manifest.json"
echo "added $ID ($(basename "$RELPATH"), status '$STATUS', default threshold $THRESHOLD) to ${MODEL_DIR#"$HERE/"}"
if [[ $STATUS != passed ]]; then
    cat >&2 <<EOF

!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!! $ID is NOT VERIFIED ON THIS OS (status '$STATUS').
!! It was never compared with PyTorch: CoreML cannot run where it was exported. The app shows
!! "Not verified on this OS". To verify it, run on a Mac:
!!     petface-verify $EXPORT_DIR
!! then run this script again: it prefers an artifact that passed.
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!

EOF
fi
echo "next: open ios_demo/PetFaceDemo.swiftpm in Xcode and run (the app checks the package's sha256 and compiles it on first launch)"

#!/usr/bin/env bash
# VNN-COMP: run_instance.sh v1 CATEGORY ONNX VNNLIB RESULTFILE TIMEOUT
#
# Verifies one instance with `nnv verify` (branch and bound, HiGHS for the sub-boxes where
# splitting stops paying) and writes RESULTFILE in the competition's format: the first line is
# sat, unsat, timeout, unknown or error; after sat comes the counterexample,
# ((X_0 v) ... (Y_0 v) ...), replayed in float64 before it is written. TIMEOUT covers the whole
# script, so the verifier gets one second less for start-up. Gzipped inputs (.gz) are unpacked
# to a temporary folder first. Set NNV to the nnv executable if it is not on PATH.
set -u
if [ "$#" -ne 6 ]; then
    echo "usage: $0 v1 CATEGORY ONNX VNNLIB RESULTFILE TIMEOUT" >&2
    exit 1
fi
if [ "$1" != "v1" ]; then
    echo "$0: expected the interface version v1, got '$1'" >&2
    exit 1
fi
onnx=$3 vnnlib=$4 result=$5
budget=$(awk -v t="$6" 'BEGIN { b = t - 1; if (b < 1) b = 1; print b }')
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
unpacked() {
    case "$1" in
        *.gz) gunzip -c "$1" > "$scratch/$(basename "${1%.gz}")" && echo "$scratch/$(basename "${1%.gz}")" ;;
        *) echo "$1" ;;
    esac
}
onnx=$(unpacked "$onnx") && vnnlib=$(unpacked "$vnnlib") || { echo error > "$result"; exit 0; }
rm -f "$result"
"${NNV:-nnv}" verify "$onnx" "$vnnlib" --timeout "$budget" --result-file "$result"
if [ ! -s "$result" ]; then
    echo error > "$result"  # nnv explained why on stderr (bad input exits with code 2)
fi
exit 0

#!/usr/bin/env bash
# VNN-COMP: prepare_instance.sh v1 CATEGORY ONNX VNNLIB
#
# nnv needs no per-instance preparation (no compilation, no conversion): this only checks the
# arguments and that the `nnv` command works, so that a broken installation shows up here and
# not as a wrong answer. Set NNV to the nnv executable if it is not on PATH.
set -u
if [ "$#" -ne 4 ]; then
    echo "usage: $0 v1 CATEGORY ONNX VNNLIB" >&2
    exit 1
fi
if [ "$1" != "v1" ]; then
    echo "$0: expected the interface version v1, got '$1'" >&2
    exit 1
fi
for file in "$3" "$4"; do
    if [ ! -f "$file" ]; then
        echo "$0: $file: no such file" >&2
        exit 1
    fi
done
"${NNV:-nnv}" --help > /dev/null || { echo "$0: the nnv command does not run" >&2; exit 1; }
exit 0

#!/bin/sh
# Builds the mesh of the cavity case (constant/polyMesh) with blockMesh: run once before
# `ckpt run --app openfoam -- icoFoam`. Debian's OpenFOAM needs only WM_PROJECT_DIR (sourcing its
# bashrc prints errors). Usage: ./prepare.sh [CASE_DIR]   (default: this script's directory)
set -eu
cd "${1:-$(dirname "$0")}"
export WM_PROJECT_DIR="${WM_PROJECT_DIR:-/usr/share/openfoam}"
blockMesh > log.blockMesh 2>&1 || { cat log.blockMesh >&2; exit 1; }
echo "mesh written to $(pwd)/constant/polyMesh (log: log.blockMesh)"

#!/usr/bin/env bash
# Builds md.tpr for the GROMACS example: a 3 nm box of SPC/E water (no downloads: spc216.gro
# and the OPLS-AA force field come with GROMACS), energy-minimised, ready for MD.
#
#   bash examples/gromacs/prepare.sh [DIR]     # DIR (default: the current directory) gets md.tpr
#
# Then, in DIR:  ckpt run --app gromacs --every 0.1m -- gmx mdrun -deffnm md -nt 1
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${1:-.}
mkdir -p "$dir"
cd "$dir"
export GMX_MAXBACKUP=-1 # overwrite, no #file.1# backups
gmx() { command gmx -quiet "$@" >>prepare.log 2>&1 || { tail -n 30 prepare.log >&2; exit 1; }; }
: >prepare.log
cp "$here/topol.top" "$here/em.mdp" "$here/md.mdp" .
gmx solvate -cs spc216.gro -box 3 3 3 -o conf.gro -p topol.top
gmx grompp -f em.mdp -c conf.gro -p topol.top -o em.tpr -po em.out.mdp
gmx mdrun -deffnm em -nt 1
gmx grompp -f md.mdp -c em.gro -p topol.top -o md.tpr -po md.out.mdp
echo "md.tpr is ready in $(pwd) ($(awk '/^SOL/ {print $2}' topol.top) water molecules)"

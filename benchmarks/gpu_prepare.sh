#!/usr/bin/env bash
# Gather, on a machine with a network, what benchmarks/gpu_check.sh needs on a GPU
# machine that has none: wheels of genbench's pure-Python dependencies that a
# PyTorch image may lack, Fashion-MNIST's IDX files, and the reference scripts.
#
#   bash benchmarks/gpu_prepare.sh DEST [PYTORCH_GAN_GIT_DIR] [EXAMPLES_GIT_DIR]
#
# DEST/wheels  pip wheels for CPython 3.12 on x86-64 Linux (GPU_CHECK_PY_VERSION to change)
# DEST/data    Fashion-MNIST's four .gz IDX files (from GPU_CHECK_DATA or
#              /usr/share/datasets/fashion-mnist)
# DEST/refs    PyTorch-GAN/implementations/{dcgan,wgan_gp,cgan}/*.py and
#              examples/{dcgan,vae}/main.py, read with `git show HEAD:...` from clones
#              of eriklindernoren/PyTorch-GAN and pytorch/examples (or bare git dirs).
#              Used as they are, never committed to genbench.
#
# Then, there:
#   GPU_CHECK_WHEELS=DEST/wheels GPU_CHECK_DATA=DEST/data GPU_CHECK_REFS=DEST/refs \
#       bash benchmarks/gpu_check.sh
# Keep DEST inside the checkout in a folder git ignores (e.g. listed in
# .git/info/exclude) when the tree is copied to the GPU machine.

set -eu -o pipefail
DEST=${1:?usage: gpu_prepare.sh DEST [PYTORCH_GAN_GIT_DIR] [EXAMPLES_GIT_DIR]}
PGAN=${2:-}
EXAMPLES=${3:-}
PYV=${GPU_CHECK_PY_VERSION:-3.12}
PY=${PYTHON:-python3}
mkdir -p "$DEST/wheels" "$DEST/data" "$DEST/refs"

# Wheels: what genbench and its tests need beyond a PyTorch image (torch, torchvision,
# numpy, pillow, rich, pluggy, pytest and hypothesis are usually there already; the
# check installs only what is missing, from these).
"$PY" -m pip download --disable-pip-version-check -q --only-binary=:all: \
    --python-version "$PYV" --implementation cp --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
    -d "$DEST/wheels" textual textual-plot platformdirs psutil textual-image nvidia-ml-py \
    pytest-asyncio pytest-textual-snapshot hypothesis
echo "wheels: $(ls "$DEST/wheels" | wc -l) files, $(du -sh "$DEST/wheels" | cut -f1)"

src=${GPU_CHECK_DATA:-/usr/share/datasets/fashion-mnist}
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    cp "$src/$f.gz" "$DEST/data/"
done
echo "data: $(du -sh "$DEST/data" | cut -f1) from $src"

show() {   # GIT_DIR PATH -> DEST/refs/PREFIX/PATH
    local git=$1 path=$2 out=$3
    mkdir -p "$(dirname "$out")"
    git --git-dir "$git" show "HEAD:$path" > "$out"
}
gitdir() { if [[ -d $1/.git ]]; then echo "$1/.git"; else echo "$1"; fi; }
if [[ -n $PGAN ]]; then
    g=$(gitdir "$PGAN")
    for p in dcgan/dcgan.py wgan_gp/wgan_gp.py cgan/cgan.py lsgan/lsgan.py; do
        show "$g" "implementations/$p" "$DEST/refs/PyTorch-GAN/implementations/$p"
    done
    echo "refs: PyTorch-GAN at $(git --git-dir "$g" rev-parse HEAD)"
fi
if [[ -n $EXAMPLES ]]; then
    g=$(gitdir "$EXAMPLES")
    for p in dcgan/main.py vae/main.py; do
        show "$g" "$p" "$DEST/refs/examples/$p"
    done
    echo "refs: pytorch/examples at $(git --git-dir "$g" rev-parse HEAD)"
fi

#!/usr/bin/env bash
# genbench's GPU check (issue 17): everything the first minutes on a GPU should run,
# in one script that ends with ONE summary table (step, result, seconds, note).
#
#   bash benchmarks/gpu_check.sh
#
# On a machine with a CUDA GPU and nothing prepared it:
#   1. finds a Python with torch (GPU_CHECK_PYTHON, else python3, else ./.venv's) and
#      installs genbench into a venv layered over it (torch is not downloaded again;
#      missing pure-Python dependencies come from GPU_CHECK_WHEELS, a folder of
#      wheels, or from the package index);
#   2. runs the whole test suite on CUDA (GENBENCH_TEST_DEVICE=cuda pytest);
#   3. trains every model headless for GPU_CHECK_STEPS steps in fp32 and bf16;
#   4. launches one run through the workbench's launcher (tui.launcher.spawn);
#   5. runs `torchrun --nproc-per-node 1 -m genbench run --headless` (nccl);
#   6. runs `genbench bench` (fp32 and bf16);
#   7. runs the reference scripts found in GPU_CHECK_REFS (see
#      benchmarks/gpu_prepare.sh; skipped, with the reason, when absent) for
#      GPU_CHECK_REF_SECONDS each, with genbench's figure on the same setting beside.
# Every step has a time limit and the whole script a budget (GPU_CHECK_BUDGET_S,
# default 570 s): a step that would start past it is skipped and says so.
#
# Without a GPU it still runs to its summary: the CUDA-only parts are skipped with
# the reason, the rest runs on the CPU with fewer steps. GPU_CHECK_QUICK=1 makes a
# short dry run of it (tests/training/test_gpu_check.py does that).
#
# Settings (environment): GPU_CHECK_PYTHON, GPU_CHECK_WHEELS, GPU_CHECK_DATA (a folder
# with Fashion-MNIST's IDX files; default: genbench's own search, e.g.
# /usr/share/datasets/fashion-mnist), GPU_CHECK_REFS, GPU_CHECK_WORK (where venv,
# runs and logs go; default a new folder in /tmp), GPU_CHECK_STEPS, GPU_CHECK_REF_SECONDS,
# GPU_CHECK_BUDGET_S, GPU_CHECK_QUICK.

set -u -o pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T0=$SECONDS
QUICK=${GPU_CHECK_QUICK:-0}
BUDGET=${GPU_CHECK_BUDGET_S:-570}
WORK=${GPU_CHECK_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")}
mkdir -p "$WORK/logs"
LOGS=$WORK/logs
SUMMARY=$WORK/summary.tsv
: > "$SUMMARY"
REFS=${GPU_CHECK_REFS:-}
WHEELS=${GPU_CHECK_WHEELS:-}
DATA=${GPU_CHECK_DATA:-}
MODELS=(gan dcgan wgan wgan-gp cgan vae lsgan)

record() {   # step result seconds note
    local note=${4//$'\n'/ }
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${note//$'\t'/ }" >> "$SUMMARY"
}

left() { echo $((BUDGET - (SECONDS - T0))); }

# step NAME LIMIT FUNCTION [ARGS]: run FUNCTION with LIMIT (capped by what is left of
# the budget) in $LIMIT; it sets NOTE and returns 0 ok, 77 skipped, 124 timed out,
# anything else failed.
step() {
    local name=$1 limit=$2
    shift 2
    local rest
    rest=$(left)
    if (( rest < 10 )); then
        record "$name" skipped 0 "the ${BUDGET}s budget is spent"
        return
    fi
    (( limit > rest )) && limit=$rest
    NOTE=""
    local start=$SECONDS
    LIMIT=$limit "$@"
    local rc=$? result=fail
    case $rc in
        0) result=ok ;;
        77) result=skipped ;;
        124|137) NOTE="timed out after ${limit}s; $NOTE" ;;
    esac
    record "$name" "$result" $((SECONDS - start)) "$NOTE"
    printf '[gpu_check] %-28s %-7s %4ss  %s\n' "$name" "$result" $((SECONDS - start)) "$NOTE" >&2
}

lastline() { grep -v '^\s*$' "$1" 2>/dev/null | tail -n 1 | cut -c1-160; }

# ---------------------------------------------------------------- 1. Python, install
find_python() {
    local candidates=("${GPU_CHECK_PYTHON:-}" python3 "$REPO/.venv/bin/python")
    for py in "${candidates[@]}"; do
        [[ -n $py ]] || continue
        if "$py" -c 'import torch' >/dev/null 2>&1; then
            BASE_PY=$(command -v "$py")
            return 0
        fi
    done
    return 1
}

check_python() {
    if ! find_python; then
        NOTE="no Python with torch found (tried GPU_CHECK_PYTHON, python3, .venv)"
        return 1
    fi
    local info
    info=$(timeout "$LIMIT" "$BASE_PY" - <<'EOF' 2>&1
import sys, torch
cuda = torch.cuda.is_available()
name = torch.cuda.get_device_name(0) if cuda else "no CUDA device"
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, {name}")
print("cuda" if cuda else "cpu")
EOF
    ) || { NOTE="$BASE_PY: $info"; return 1; }
    NOTE="$BASE_PY: $(head -n 1 <<< "$info")"
    DEV=$(tail -n 1 <<< "$info")
}

install() {
    PY=""
    if "$BASE_PY" -c 'import genbench, sys; sys.exit(0 if genbench.__file__.startswith(sys.argv[1]) else 1)' \
            "$REPO/genbench" >/dev/null 2>&1; then
        PY=$BASE_PY
        NOTE="genbench from this checkout is already installed in $BASE_PY: used as it is"
        return 0
    fi
    local venv=$WORK/venv
    # A venv layered over the Python that has torch: its site-packages are read through
    # a .pth file (this works when that Python is itself a venv), so nothing large is
    # installed again.
    "$BASE_PY" -m venv --without-pip --system-site-packages "$venv" > "$LOGS/install.log" 2>&1 \
        || { NOTE="venv: $(lastline "$LOGS/install.log")"; return 1; }
    local site
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    "$BASE_PY" -c 'import site, sysconfig; print("\n".join(dict.fromkeys(
        [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])))' \
        > "$site/gpu_check_base.pth"
    PY=$venv/bin/python
    local pip=(timeout "$LIMIT" "$PY" -m pip install --disable-pip-version-check -q)
    "${pip[@]}" --no-deps --no-build-isolation -e "$REPO" >> "$LOGS/install.log" 2>&1 \
        || { NOTE="pip install genbench: $(lastline "$LOGS/install.log")"; return 1; }
    # What genbench and its tests import, installed only where missing.
    local missing
    missing=$("$PY" - <<'EOF'
import importlib.util
need = {"torchvision": "torchvision", "textual": "textual", "rich": "rich", "pluggy": "pluggy",
        "numpy": "numpy", "PIL": "pillow", "platformdirs": "platformdirs",
        "textual_plot": "textual-plot", "pytest": "pytest", "pytest_asyncio": "pytest-asyncio",
        "pytest_textual_snapshot": "pytest-textual-snapshot", "hypothesis": "hypothesis"}
print(" ".join(dist for mod, dist in need.items() if importlib.util.find_spec(mod) is None))
EOF
    )
    if [[ -n $missing ]]; then
        local source=(--upgrade-strategy only-if-needed)
        [[ -n $WHEELS ]] && source+=(--no-index --find-links "$WHEELS")
        # shellcheck disable=SC2086
        "${pip[@]}" "${source[@]}" $missing >> "$LOGS/install.log" 2>&1 \
            || { NOTE="pip install $missing${WHEELS:+ (from $WHEELS)}: $(lastline "$LOGS/install.log")"
                 return 1; }
        NOTE="venv $venv over $BASE_PY; installed $missing${WHEELS:+ from $WHEELS}"
    else
        NOTE="venv $venv over $BASE_PY; every dependency was there"
    fi
    "$PY" -m genbench models > "$LOGS/models.log" 2>&1 \
        || { NOTE="$NOTE; genbench models failed: $(lastline "$LOGS/models.log")"; return 1; }
}

genbench() { "$PY" -m genbench "$@"; }

# ---------------------------------------------------------------- 2. the suite on CUDA
suite() {
    local log=$LOGS/pytest.log args=(-q -p no:cacheprovider -rfE)
    if [[ $DEV != cuda ]]; then
        # Show that the switch itself skips cleanly here, on one small file.
        (cd "$REPO" && GENBENCH_TEST_DEVICE=cuda timeout "$LIMIT" "$PY" -m pytest -q -rs \
            -p no:cacheprovider tests/training/test_threads.py) > "$log" 2>&1
        local rc=$?
        NOTE="no CUDA device; GENBENCH_TEST_DEVICE=cuda on tests/training/test_threads.py: $(lastline "$log")"
        (( rc == 0 )) && return 77 || return $rc
    fi
    "$PY" -c 'import xdist' >/dev/null 2>&1 && (( $(nproc) >= 8 )) && args+=(-n 8)
    "$PY" -c 'import pytest_timeout' >/dev/null 2>&1 && args+=(--timeout 180)
    (cd "$REPO" && GENBENCH_TEST_DEVICE=cuda timeout "$LIMIT" "$PY" -m pytest "${args[@]}") \
        > "$log" 2>&1
    local rc=$?
    NOTE="$(lastline "$log") (log: $log)"
    return $rc
}

# ---------------------------------------------------------------- 3. every model, fp32 and bf16
data_args() {
    if [[ -n $DATA ]]; then echo --data-dir "$DATA"; fi
}

train_all() {
    local steps=$1 dataset=fashion-mnist
    # shellcheck disable=SC2046
    if ! genbench datasets --json $(data_args) 2>/dev/null | "$PY" -c '
import json, sys
found = json.load(sys.stdin)
found = found.get("datasets", found) if isinstance(found, dict) else found
ok = {d["name"]: d.get("available") for d in found}
sys.exit(0 if ok.get("fashion-mnist") else 1)'; then
        dataset=ring8
    fi
    local precisions=(fp32 bf16) parallel=1 pids=() names=()
    [[ $DEV == cuda ]] && parallel=4
    [[ $QUICK == 1 ]] && parallel=2
    for precision in "${precisions[@]}"; do
        for model in "${MODELS[@]}"; do
            local name=$model-$precision
            [[ $QUICK == 1 && $precision == bf16 && $model != gan ]] && continue
            if [[ $model == dcgan && $dataset == ring8 ]]; then
                record "train $name" skipped 0 "no Fashion-MNIST here (GPU_CHECK_DATA) and dcgan needs images"
                continue
            fi
            (
                start=$SECONDS
                # shellcheck disable=SC2046
                timeout "$LIMIT" "$PY" -m genbench run --headless --quiet --model "$model" \
                    --dataset "$dataset" $(data_args) --steps "$steps" --device "$DEV" \
                    --precision "$precision" --runs-dir "$WORK/runs" --name "$name" \
                    --threads "$THREADS" --log-every 10 > "$LOGS/train-$name.log" 2>&1
                echo "$? $((SECONDS - start))" > "$LOGS/train-$name.rc"
            ) &
            pids+=($!)
            names+=("$name")
            while (( $(jobs -rp | wc -l) >= parallel )); do wait -n 2>/dev/null || true; done
        done
    done
    wait
    local failed=0
    for name in "${names[@]+"${names[@]}"}"; do
        local rc=1 secs=0 note
        read -r rc secs < "$LOGS/train-$name.rc" 2>/dev/null
        note=$("$PY" - "$WORK/runs/$name" <<'EOF' 2>/dev/null
import json, sys
from pathlib import Path
run = Path(sys.argv[1])
meta = json.loads((run / "run.json").read_text())
rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if l.strip()]
last = [r for r in rows if "losses" in r][-1]
losses = ", ".join(f"{k} {v:.3g}" for k, v in last["losses"].items())
print(f"{meta['status']} at step {meta['step']} on {meta['device']}, "
      f"{last.get('img_per_s') or 0:.0f} img/s; {losses}")
EOF
        ) || note=$(lastline "$LOGS/train-$name.log")
        local result=ok
        if [[ $rc == 124 ]]; then result=fail; failed=$((failed + 1)); note="timed out; $note"
        elif [[ $rc != 0 ]]; then result=fail; failed=$((failed + 1))
        fi
        record "train $name ($dataset)" "$result" "$secs" "$note"
    done
    NOTE="$dataset, $steps steps each, up to $parallel at once; ${#names[@]} runs, $failed failed"
    (( failed == 0 ))
}

# ---------------------------------------------------------------- 4. the workbench's launcher
launcher() {
    timeout "$LIMIT" "$PY" - "$WORK/runs" "$DEV" "$STEPS" > "$LOGS/launcher.log" 2>&1 <<'EOF'
import json, sys, time
from pathlib import Path
from genbench.tui.launcher import LaunchRequest, adopt_log, spawn
runs, device, steps = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
req = LaunchRequest(model="dcgan" if device == "cuda" else "gan", dataset="ring8",
                    runs_dir=runs, name="launched", steps=steps, batch_size=64, seed=0,
                    device=device)
if req.model == "dcgan":
    req.dataset = "fashion-mnist"
child = spawn(runs / req.name, req.argv())
while child.running():
    adopt_log(child)
    time.sleep(0.5)
adopt_log(child)
meta = json.loads((runs / req.name / "run.json").read_text())
print(f"{req.model} on {req.dataset}: exit {child.proc.returncode}, {meta['status']} at step "
      f"{meta['step']} on {meta['device']}")
sys.exit(0 if child.proc.returncode == 0 and meta["status"] == "completed" else 1)
EOF
    local rc=$?
    NOTE=$(lastline "$LOGS/launcher.log")
    return $rc
}

# ---------------------------------------------------------------- 5. torchrun
torchrun_one() {
    local device=$DEV backend=nccl prefix=""
    if [[ $DEV != cuda ]]; then
        device=cpu backend=gloo prefix="nccl skipped (no CUDA device); ran with gloo instead: "
    fi
    timeout "$LIMIT" "$PY" -m torch.distributed.run --nproc-per-node 1 --master-port 0 \
        -m genbench run --headless --quiet --model gan --dataset ring8 --steps "$STEPS" \
        --device "$device" --runs-dir "$WORK/runs" --name torchrun --threads "$THREADS" \
        > "$LOGS/torchrun.log" 2>&1
    local rc=$?
    NOTE="$prefix$("$PY" - "$WORK/runs/torchrun/run.json" <<'EOF' 2>/dev/null || lastline "$LOGS/torchrun.log"
import json, sys
m = json.load(open(sys.argv[1]))
print(f"{m['status']} at step {m['step']}, world size {m.get('world_size')}, on {m['device']}")
EOF
)"
    [[ $rc == 0 && $backend == gloo ]] && NOTE="$NOTE (backend $backend)"
    return $rc
}

# ---------------------------------------------------------------- 6. bench
bench() {
    local precision=$1 log=$LOGS/bench-$1.json
    if [[ $precision == bf16 && $DEV != cuda ]]; then
        NOTE="bf16 bench is for the GPU (CPU autocast bf16 is not what it measures)"
        return 77
    fi
    # shellcheck disable=SC2046
    timeout "$LIMIT" "$PY" -m genbench bench --device "$DEV" --precision "$precision" \
        --steps "$BENCH_STEPS" --warmup "$BENCH_WARMUP" --threads "$THREADS" $(data_args) \
        --json > "$log" 2> "$LOGS/bench-$precision.err"
    local rc=$?
    NOTE=$("$PY" - "$log" <<'EOF' 2>/dev/null || lastline "$LOGS/bench-$precision.err"
import json, sys
r = json.load(open(sys.argv[1]))
cells = [f"{x['model']} {x['img_per_s']:.0f}" if not x["skipped"] else f"{x['model']} skipped"
         for x in r["results"]]
print(f"img/s at batch 64 on {r['device_name']}: " + ", ".join(cells))
EOF
)
    return $rc
}

# ---------------------------------------------------------------- 7. references
# name | folder in GPU_CHECK_REFS | script | its arguments (CPU) | images per counter unit |
# the genbench bench arguments of the same setting
REF_TABLE=(
    "examples-dcgan64|examples/dcgan|main.py|--dataset mnist --dataroot @ROOT --niter 1|64|--model dcgan --image-size 64"
    "pytorch-gan-dcgan32|PyTorch-GAN/implementations/dcgan|dcgan.py|--n_epochs 1|64|--model dcgan --image-size 32"
    "pytorch-gan-wgan-gp|PyTorch-GAN/implementations/wgan_gp|wgan_gp.py|--n_epochs 1|64|"
    "pytorch-gan-cgan|PyTorch-GAN/implementations/cgan|cgan.py|--n_epochs 1|64|--model cgan --image-size 32 --set arch=mlp"
    "pytorch-gan-lsgan|PyTorch-GAN/implementations/lsgan|lsgan.py|--n_epochs 1|64|--model lsgan --image-size 32"
    "examples-vae|examples/vae|main.py|--epochs 1|1|--model vae --batch-size 128"
)

ref_data() {
    # MNIST-style raw IDX files from Fashion-MNIST, where torchvision's MNIST looks.
    local src=$DATA
    [[ -z $src ]] && src=/usr/share/datasets/fashion-mnist
    local raw=$WORK/ref/MNIST/raw
    mkdir -p "$raw"
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
        if [[ -f $src/$f.gz ]]; then gzip -dc "$src/$f.gz" > "$raw/$f"
        elif [[ -f $src/$f ]]; then cp "$src/$f" "$raw/$f"
        else return 1
        fi
    done
}

reference() {
    local name=$1 dir=$2 script=$3 args=$4 unit=$5 ours=$6
    if [[ -z $REFS || ! -f $REFS/$dir/$script ]]; then
        NOTE="reference not found (${REFS:-GPU_CHECK_REFS unset}: expected $dir/$script; benchmarks/gpu_prepare.sh puts it there)"
        return 77
    fi
    [[ -d $WORK/ref/MNIST/raw ]] || ref_data || {
        NOTE="no Fashion-MNIST IDX files in ${DATA:-/usr/share/datasets/fashion-mnist}"; return 77; }
    # A private copy of the script, with the data where it looks (../../data/mnist
    # for PyTorch-GAN, ../data for the examples' VAE, --dataroot for its DCGAN).
    local top=$WORK/ref/$name/${dir%%/*} here=$WORK/ref/$name/$dir
    mkdir -p "$here" "$top/data/mnist" "$WORK/ref/$name/examples/data"
    cp "$REFS/$dir/$script" "$here/"
    ln -sfn "$WORK/ref/MNIST" "$top/data/mnist/MNIST"
    ln -sfn "$WORK/ref/MNIST" "$WORK/ref/$name/examples/data/MNIST"
    args=${args//@ROOT/$WORK/ref}
    [[ $name == examples-dcgan64 && $DEV == cuda ]] && args="$args --accel"
    [[ $name == examples-vae && $DEV != cuda ]] && args="$args --no-accel"
    local secs=$REF_SECONDS
    (( secs + 20 > LIMIT )) && secs=$((LIMIT - 20))
    # shellcheck disable=SC2086
    (cd "$here" && OMP_NUM_THREADS=$THREADS timeout "$LIMIT" "$PY" "$REPO/benchmarks/ref_rate.py" \
        --seconds "$secs" --per-unit "$unit" --log "$LOGS/ref-$name.log" -- "$PY" "$script" $args) \
        > "$LOGS/ref-$name.json" 2>&1
    local rc=$? theirs
    theirs=$("$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(round(r["img_per_s"]))' \
        "$LOGS/ref-$name.json" 2>/dev/null) || { NOTE="no rate read: $(lastline "$LOGS/ref-$name.log")"; return 1; }
    NOTE="$theirs img/s over ${secs}s"
    if [[ -n $ours ]]; then
        local mine
        # shellcheck disable=SC2046,SC2086
        mine=$(timeout 120 "$PY" -m genbench bench $ours --device "$DEV" --steps "$BENCH_STEPS" \
            --warmup "$BENCH_WARMUP" --threads "$THREADS" $(data_args) --json 2>/dev/null | "$PY" -c \
            'import json,sys; print(round(json.load(sys.stdin)["results"][0]["img_per_s"]))') \
            && NOTE="$NOTE; genbench bench $ours: $mine img/s ($("$PY" -c "print(f'{$mine/$theirs:.2f}x')"))"
    fi
    return $rc
}

# ---------------------------------------------------------------- the plan
DEV=cpu
step python 60 check_python
if [[ -z ${BASE_PY:-} ]]; then
    record install fail 0 "no Python with torch"
else
    step install 240 install
fi
if [[ -z ${PY:-} ]]; then
    record "everything else" skipped 0 "genbench is not installed (see install)"
else
    if [[ $DEV == cuda ]]; then
        STEPS=${GPU_CHECK_STEPS:-300} REF_SECONDS=${GPU_CHECK_REF_SECONDS:-45}
        BENCH_STEPS=50 BENCH_WARMUP=10 THREADS=2
    else
        STEPS=${GPU_CHECK_STEPS:-20} REF_SECONDS=${GPU_CHECK_REF_SECONDS:-20}
        BENCH_STEPS=10 BENCH_WARMUP=2 THREADS=1
    fi
    if [[ $QUICK == 1 ]]; then
        STEPS=${GPU_CHECK_STEPS:-3} REF_SECONDS=${GPU_CHECK_REF_SECONDS:-10} BENCH_STEPS=2 BENCH_WARMUP=1
        MODELS=(gan cgan vae)
        record "suite (cuda)" skipped 0 "GPU_CHECK_QUICK=1"
    else
        step "suite (cuda)" 270 suite
    fi
    step "train (every model)" 200 train_all "$STEPS"
    step launcher 90 launcher
    step "torchrun --nproc-per-node 1" 90 torchrun_one
    if [[ $QUICK == 1 ]]; then
        record "bench fp32" skipped 0 "GPU_CHECK_QUICK=1"
        record "bench bf16" skipped 0 "GPU_CHECK_QUICK=1"
    else
        step "bench fp32" 120 bench fp32
        step "bench bf16" 120 bench bf16
    fi
    for row in "${REF_TABLE[@]}"; do
        IFS='|' read -r name dir script args unit ours <<< "$row"
        if [[ $QUICK == 1 ]]; then
            record "reference $name" skipped 0 "GPU_CHECK_QUICK=1"
            continue
        fi
        step "reference $name" $((REF_SECONDS + 60)) reference "$name" "$dir" "$script" "$args" "$unit" "$ours"
    done
fi

# ---------------------------------------------------------------- the summary
TOTAL=$((SECONDS - T0))
echo
echo "genbench GPU check: device ${DEV}, ${TOTAL}s of a ${BUDGET}s budget, logs in $LOGS"
awk -F'\t' '
    { step[NR] = $1; res[NR] = $2; sec[NR] = $3; note[NR] = $4
      if (length($1) > w) w = length($1)
      n[$2]++ }
    END {
      fmt = "%-" w "s  %-7s  %7s  %s\n"
      printf fmt, "step", "result", "seconds", "note"
      for (i = 1; i <= NR; i++) printf fmt, step[i], res[i], sec[i], note[i]
      printf "%d ok, %d failed, %d skipped\n", n["ok"], n["fail"], n["skipped"]
    }' "$SUMMARY"
grep -q $'\tfail\t' "$SUMMARY" && exit 1
exit 0

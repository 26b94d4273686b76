#!/usr/bin/env bash
# R1's distillation finding in miniature (docs/pipeline.md): a student smaller than models/demo-adder,
# pretrained the same way (scripts/make_demo_model.py with size flags, built on demand), compared
#   (a) after SFT on the teacher's verified samples (aha sample → aha sft), and
#   (b) after GRPO on its own for the same wall time as (a) (sampling + SFT),
# by held-out pass@1 (200 problems × 8 samples, T = 1: the demo's protocol).
# The teacher is the demo model after R1's recipe: $TEACHER, default examples/r1.yaml's final model
# (runs/r1-demo, run here by `aha pipeline --config examples/r1.yaml` if it is not there: ~30 min).
# Run from the repository root after `npm run build`. Everything lands in $OUT; results.json at the end.
# Re-running continues: (a)'s measured seconds are kept in $OUT/a-seconds.txt, the GRPO run resumes.
set -euo pipefail
OUT=${OUT:-runs/distill}
STUDENT=${STUDENT:-models/demo-adder-d96}
TEACHER=${TEACHER:-}
PROMPTS=${PROMPTS:-1024}     # teacher prompts sampled (K=4 each, at most 1 kept per prompt)
SFT_STEPS=${SFT_STEPS:-60}   # student SFT steps of 16
RL_STEPS=${RL_STEPS:-100}    # student GRPO steps run (enough to pass (a)'s wall time); the checkpoint at that time is evaluated
AHA="node bin/aha.js"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT"
now() { date +%s.%N; }

if [ ! -f "$STUDENT/config.json" ]; then
  echo "== building the student $STUDENT (d=96, 3 layers, 3 heads: 0.33M parameters, ~0.42 of the demo model's 0.79M)"
  /usr/bin/python3 scripts/make_demo_model.py --hidden 96 --layers 3 --heads 3 --intermediate 256 --out "$STUDENT"
fi
if [ -z "$TEACHER" ]; then
  TEACHER="runs/r1-demo/06-final-rl/checkpoints/step-40/model"
  if [ ! -f "$TEACHER/config.json" ]; then
    echo "== the teacher: examples/r1.yaml's final model (models/demo-adder through R1's recipe) in runs/r1-demo"
    $AHA pipeline --config examples/r1.yaml
  fi
fi

echo "== (a) distillation: the teacher's verified samples, then student SFT"
if [ -f "$OUT/a-seconds.txt" ]; then
  read -r SAMPLE_S SFT_S < "$OUT/a-seconds.txt"   # measured by an earlier run of this script (a re-run would not time it)
else
  t0=$(now)
  $AHA sample --model "$TEACHER" --task arithmetic --prompts "$PROMPTS" --samples 4 --temperature 1 --top-p 1 \
    --max-tokens 120 --filter-per-prompt 1 --out "$OUT/teacher-samples.jsonl"
  t1=$(now)
  $AHA sft --model "$STUDENT" --run-dir "$OUT/student-sft" --data "$OUT/teacher-samples.jsonl" --steps "$SFT_STEPS" --batch-size 16 --lr 1e-3 --save-every 0
  t2=$(now)
  SAMPLE_S=$(echo "$t1 - $t0" | bc); SFT_S=$(echo "$t2 - $t1" | bc)
  echo "$SAMPLE_S $SFT_S" > "$OUT/a-seconds.txt"
fi
BUDGET=$(echo "$SAMPLE_S + $SFT_S" | bc)
echo "sampling ${SAMPLE_S}s + SFT ${SFT_S}s = ${BUDGET}s"

echo "== (b) the student's own GRPO (the demo's settings) for ${BUDGET}s of training"
GRPO=(--task arithmetic --template none --algorithm grpo --kl-coef 0 --loss-agg token-mean --dynamic-sampling
      --dynamic-sampling-rounds 0 --lr 1e-4 --max-new-tokens 120 --group-size 8 --prompts-per-step 16 --eval-samples 0)
# a first run measures the clock (metrics.jsonl's time: seconds since the run started)...
if [ ! -f "$OUT/student-rl/checkpoints/step-$RL_STEPS/model/config.json" ]; then
  [ -f "$OUT/student-rl/status.json" ] && RL_RUN=(--resume "$OUT/student-rl") || RL_RUN=(--model "$STUDENT" --run-dir "$OUT/student-rl")
  $AHA train "${RL_RUN[@]}" "${GRPO[@]}" --steps "$RL_STEPS"
fi
RL_STEP=$(node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const ok = rows.filter((r) => r.time <= Number(process.argv[2]));
  console.log(ok.length ? ok[ok.length - 1].step : 1);' "$OUT/student-rl/metrics.jsonl" "$BUDGET")
echo "GRPO step $RL_STEP is the last within ${BUDGET}s"
# ...and, the run being deterministic with a constant learning rate, a second one stops at that step
# (runs keep only their newest 2 checkpoints)
if [ ! -f "$OUT/student-rl-$RL_STEP/checkpoints/step-$RL_STEP/model/config.json" ]; then
  rm -rf "$OUT/student-rl-$RL_STEP"
  $AHA train --model "$STUDENT" --run-dir "$OUT/student-rl-$RL_STEP" "${GRPO[@]}" --steps "$RL_STEP"
fi

evaluate() { $AHA eval --model "$1" --task arithmetic --samples 8 --temperature 1 --top-p 1 --max-tokens 120 --out "$OUT/eval-$2" >/dev/null; node -e 'console.log(require(process.argv[1])["pass@1"])' "$(realpath "$OUT/eval-$2/summary.json")"; }
echo "== held-out pass@1 (200 problems × 8 samples, T=1)"
P_STUDENT=$(evaluate "$STUDENT" student-base); echo "student, pretrained: $P_STUDENT"
P_SFT=$(evaluate "$OUT/student-sft/checkpoints/step-$SFT_STEPS/model" student-sft); echo "(a) student SFT: $P_SFT"
P_RL=$(evaluate "$OUT/student-rl-$RL_STEP/checkpoints/step-$RL_STEP/model" student-rl-same-time); echo "(b) student GRPO, same wall time: $P_RL"
P_TEACHER=$(evaluate "$TEACHER" teacher); echo "teacher: $P_TEACHER"
P_RL_ALL=$(evaluate "$OUT/student-rl/checkpoints/step-$RL_STEPS/model" student-rl-all-steps); echo "student GRPO, $RL_STEPS steps: $P_RL_ALL"
ROWS=$(wc -l < "$OUT/teacher-samples.jsonl")
cat > "$OUT/results.json" <<JSON
{"teacher": {"model": "$TEACHER", "pass@1": $P_TEACHER}, "student_base": {"model": "$STUDENT", "pass@1": $P_STUDENT},
 "a_distilled": {"rows": $ROWS, "sft_steps": $SFT_STEPS, "sample_seconds": $SAMPLE_S, "sft_seconds": $SFT_S, "pass@1": $P_SFT},
 "b_rl_same_wall_time": {"budget_seconds": $BUDGET, "step": $RL_STEP, "pass@1": $P_RL},
 "b_rl_all_steps": {"step": $RL_STEPS, "pass@1": $P_RL_ALL}}
JSON
cat "$OUT/results.json"

#!/usr/bin/env bash
# Stage a study's finished runs for commit, without their checkpoints: study.toml plus each
# finished run's settings, logs and results (results_step_N.json too, for at_steps).
# Study directories live at benchmarks/results/NAME (study.toml, runs/); checkpoints/ is gitignored
# there (large), so the runs staged here are what lets `slowvae study run` on a fresh clone skip them
# and `slowvae study table` tabulate them.
# Usage: benchmarks/check_in_runs.sh benchmarks/results/NAME
set -euo pipefail
study=${1:?usage: $0 STUDY_DIR}
[ -f "$study/study.toml" ] || { echo "$study is not a study directory (no study.toml)" >&2; exit 2; }
git add "$study/study.toml"
count=0
for run in "$study"/runs/*/; do
    [ -L "${run%/}" ] && continue  # linked through `reuse`: checked in with its own study
    # finished = results.json written with the study's evaluation (slowvae.study.runner.is_finished)
    grep -q '"study_evaluate"' "$run/results.json" 2>/dev/null || continue
    for file in "$run"/{study-run.json,config.json,metrics.jsonl,timing.json,results.json,results_step_*.json}; do
        [ -f "$file" ] && git add "$file"
    done
    count=$((count + 1))
done
echo "staged $count finished run(s) of $study" >&2

#!/usr/bin/env bash
# Stage a study's finished runs for commit, without their checkpoints: study.toml plus each
# finished run's settings, logs and results (results_step_N.json too, for at_steps).
# With --unfinished, also stage each unfinished run's settings, logs, step scores and
# checkpoints/last.pt (plus the step_N.pt of at_steps not scored yet), so that a machine that is
# given back loses no training: the long studies commit them at least every 50,000 steps.
# Study directories live at benchmarks/results/NAME (study.toml, runs/); checkpoints/ is gitignored
# there (large), so the runs staged here are what lets `slowvae study run` on a fresh clone skip or
# resume them and `slowvae study table` tabulate them.
# Usage: benchmarks/check_in_runs.sh benchmarks/results/NAME [--unfinished]
set -euo pipefail
study=${1:?usage: $0 STUDY_DIR [--unfinished]}
unfinished=${2:-}
[ -f "$study/study.toml" ] || { echo "$study is not a study directory (no study.toml)" >&2; exit 2; }
python3 -c 'import slowvae' 2>/dev/null || { echo "python3 cannot import slowvae: activate its environment" >&2; exit 2; }
git add "$study/study.toml"
count=0
partial=0
for run in "$study"/runs/*/; do
    [ -L "${run%/}" ] && continue  # linked through `reuse`: checked in with its own study
    files=("$run"/{study-run.json,config.json,metrics.jsonl,timing.json,results.json,results_step_*.json})
    # finished at the run's steps (slowvae.results.is_finished): a run the study file extended is unfinished again
    if python3 -c 'import json,sys; from slowvae.results import is_finished; sys.exit(not is_finished(sys.argv[1], json.load(open(sys.argv[2]))["config"]["steps"]))' "$run" "$run/study-run.json"; then
        count=$((count + 1))
    elif [ "$unfinished" = "--unfinished" ] && [ -f "$run/checkpoints/last.pt" ]; then
        files+=("$run"/checkpoints/last.pt)
        # the step checkpoints of at_steps not scored yet (kept by studies begun before step scoring)
        for n in $(python3 -c 'import json,sys; print(*json.load(open(sys.argv[1]))["evaluate"].get("at_steps", []))' "$run/study-run.json"); do
            [ -f "$run/results_step_$n.json" ] || files+=("$run/checkpoints/step_$n.pt")
        done
        partial=$((partial + 1))
    else
        continue
    fi
    for file in "${files[@]}"; do
        [ -f "$file" ] && git add -f "$file"
    done
done
echo "staged $count finished and $partial unfinished run(s) of $study" >&2

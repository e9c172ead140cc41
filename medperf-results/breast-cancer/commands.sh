#!/bin/sh
# The containers of this compatibility test, one `docker run` per task, as they ran
# (image ID, arguments, mounts, entrypoint, user, limits). Inputs are read where the
# run read them (the step cache); outputs go to $RERUN/<task>/ (default ./rerun).
# Run one by hand to reproduce a failure: copy its lines, or `sh commands.sh`.
set -e
mkdir -p "${RERUN:-./rerun}" && RERUN="$(cd "${RERUN:-./rerun}" && pwd)"

# breast-cancer-prep prepare: exit code 0
# its log: logs/data_preparator-prepare.log
mkdir -p "$RERUN/data_preparator-prepare"/outputs/output_labels_path
mkdir -p "$RERUN/data_preparator-prepare"/outputs/output_path
chown -R 10001:10001 "$RERUN/data_preparator-prepare"  # as the run did: it ran as root
docker run --rm \
  --user 10001:10001 \
  --network none \
  --cap-drop ALL \
  --security-opt no-new-privileges \
  --pids-limit 512 \
  --memory 8g \
  --memory-swap 8g \
  --read-only \
  --tmpfs /tmp:rw,exec,nosuid,nodev,size=1g,mode=1777 \
  --mount type=bind,source=/tmp/pytest-of-root/pytest-217/cache0/extracted/8b83c9ef1ecdb405b6abaab42b97e8849dd4e99da24e3f480c145b9f33a95944/data,target=/mlcube_io0,readonly \
  --mount type=bind,source=/tmp/pytest-of-root/pytest-217/cache0/extracted/8b83c9ef1ecdb405b6abaab42b97e8849dd4e99da24e3f480c145b9f33a95944/labels,target=/mlcube_io1,readonly \
  --mount type=bind,source=/work/wt-run/examples/data_preparator/mlcube/workspace,target=/mlcube_io2,readonly \
  --mount type=bind,source="$RERUN/data_preparator-prepare"/outputs/output_path,target=/mlcube_io3 \
  --mount type=bind,source="$RERUN/data_preparator-prepare"/outputs/output_labels_path,target=/mlcube_io4 \
  --label org.medperf-action.managed=1 \
  --label org.medperf-action.cube=breast-cancer-prep \
  --label org.medperf-action.task=prepare \
  --label org.medperf-action.run=c33404e9c815 \
  --env HOME=/tmp \
  --env PYTHONUNBUFFERED=1 \
  sha256:6034bb76fa037ce52b351c64edb80562231a14eba92adf3a137f7d92473d1671 prepare \
  --data_path=/mlcube_io0 \
  --labels_path=/mlcube_io1 \
  --parameters_file=/mlcube_io2/parameters.yaml \
  --output_path=/mlcube_io3 \
  --output_labels_path=/mlcube_io4

# misbehaving infer (candidate): exit code 3
# its log: logs/candidate-infer.log
mkdir -p "$RERUN/candidate-infer"/outputs/output_path
chown -R 10001:10001 "$RERUN/candidate-infer"  # as the run did: it ran as root
docker run --rm \
  --user 10001:10001 \
  --network none \
  --cap-drop ALL \
  --security-opt no-new-privileges \
  --pids-limit 512 \
  --memory 8g \
  --memory-swap 8g \
  --read-only \
  --tmpfs /tmp:rw,exec,nosuid,nodev,size=1g,mode=1777 \
  --mount type=bind,source=/tmp/pytest-of-root/pytest-217/cache0/steps/1421d31511f0376053afcb5a1aa8c81d506652c34c93439e5afcdcf8a6a18905/outputs/output_path,target=/mlcube_io0,readonly \
  --mount type=bind,source=/tmp/pytest-of-root/pytest-217/test_usage_errors_and_actions_0/misbehaving/mlcube/workspace,target=/mlcube_io1,readonly \
  --mount type=bind,source="$RERUN/candidate-infer"/outputs/output_path,target=/mlcube_io2 \
  --label org.medperf-action.managed=1 \
  --label org.medperf-action.cube=misbehaving \
  --label org.medperf-action.task=infer \
  --label org.medperf-action.run=941dc3645d04 \
  --env HOME=/tmp \
  --env PYTHONUNBUFFERED=1 \
  sha256:c30eab4bf8889da62b1191e63da9d245b0071dfdd17821ace8fdc878261df68e infer \
  --data_path=/mlcube_io0 \
  --parameters_file=/mlcube_io1/parameters.yaml \
  --output_path=/mlcube_io2

# breast-cancer-prep sanity_check: exit code 0
# its log: logs/data_preparator-sanity_check.log
docker run --rm \
  --user 10001:10001 \
  --network none \
  --cap-drop ALL \
  --security-opt no-new-privileges \
  --pids-limit 512 \
  --memory 8g \
  --memory-swap 8g \
  --read-only \
  --tmpfs /tmp:rw,exec,nosuid,nodev,size=1g,mode=1777 \
  --mount type=bind,source=/tmp/pytest-of-root/pytest-217/cache0/steps/1421d31511f0376053afcb5a1aa8c81d506652c34c93439e5afcdcf8a6a18905/outputs/output_path,target=/mlcube_io0,readonly \
  --mount type=bind,source=/tmp/pytest-of-root/pytest-217/cache0/steps/1421d31511f0376053afcb5a1aa8c81d506652c34c93439e5afcdcf8a6a18905/outputs/output_labels_path,target=/mlcube_io1,readonly \
  --mount type=bind,source=/work/wt-run/examples/data_preparator/mlcube/workspace,target=/mlcube_io2,readonly \
  --label org.medperf-action.managed=1 \
  --label org.medperf-action.cube=breast-cancer-prep \
  --label org.medperf-action.task=sanity_check \
  --label org.medperf-action.run=c33404e9c815 \
  --env HOME=/tmp \
  --env PYTHONUNBUFFERED=1 \
  sha256:6034bb76fa037ce52b351c64edb80562231a14eba92adf3a137f7d92473d1671 sanity_check \
  --data_path=/mlcube_io0 \
  --labels_path=/mlcube_io1 \
  --parameters_file=/mlcube_io2/parameters.yaml

# breast-cancer-prep statistics: exit code 0
# its log: logs/data_preparator-statistics.log
mkdir -p "$RERUN/data_preparator-statistics"/outputs/output_path/statistics.yaml
chown -R 10001:10001 "$RERUN/data_preparator-statistics"  # as the run did: it ran as root
docker run --rm \
  --user 10001:10001 \
  --network none \
  --cap-drop ALL \
  --security-opt no-new-privileges \
  --pids-limit 512 \
  --memory 8g \
  --memory-swap 8g \
  --read-only \
  --tmpfs /tmp:rw,exec,nosuid,nodev,size=1g,mode=1777 \
  --mount type=bind,source=/tmp/pytest-of-root/pytest-217/cache0/steps/1421d31511f0376053afcb5a1aa8c81d506652c34c93439e5afcdcf8a6a18905/outputs/output_path,target=/mlcube_io0,readonly \
  --mount type=bind,source=/tmp/pytest-of-root/pytest-217/cache0/steps/1421d31511f0376053afcb5a1aa8c81d506652c34c93439e5afcdcf8a6a18905/outputs/output_labels_path,target=/mlcube_io1,readonly \
  --mount type=bind,source=/work/wt-run/examples/data_preparator/mlcube/workspace,target=/mlcube_io2,readonly \
  --mount type=bind,source="$RERUN/data_preparator-statistics"/outputs/output_path,target=/mlcube_io3 \
  --label org.medperf-action.managed=1 \
  --label org.medperf-action.cube=breast-cancer-prep \
  --label org.medperf-action.task=statistics \
  --label org.medperf-action.run=c33404e9c815 \
  --env HOME=/tmp \
  --env PYTHONUNBUFFERED=1 \
  sha256:6034bb76fa037ce52b351c64edb80562231a14eba92adf3a137f7d92473d1671 statistics \
  --data_path=/mlcube_io0 \
  --labels_path=/mlcube_io1 \
  --parameters_file=/mlcube_io2/parameters.yaml \
  --output_path=/mlcube_io3/statistics.yaml

# breast-cancer-lr infer (reference): exit code 0
# its log: logs/reference_model-infer.log
mkdir -p "$RERUN/reference_model-infer"/outputs/output_path
chown -R 10001:10001 "$RERUN/reference_model-infer"  # as the run did: it ran as root
docker run --rm \
  --user 10001:10001 \
  --network none \
  --cap-drop ALL \
  --security-opt no-new-privileges \
  --pids-limit 512 \
  --memory 8g \
  --memory-swap 8g \
  --read-only \
  --tmpfs /tmp:rw,exec,nosuid,nodev,size=1g,mode=1777 \
  --mount type=bind,source=/tmp/pytest-of-root/pytest-217/cache0/steps/1421d31511f0376053afcb5a1aa8c81d506652c34c93439e5afcdcf8a6a18905/outputs/output_path,target=/mlcube_io0,readonly \
  --mount type=bind,source=/work/wt-run/examples/reference_model/mlcube/workspace,target=/mlcube_io1,readonly \
  --mount type=bind,source=/work/wt-run/examples/reference_model/mlcube/workspace/additional_files,target=/mlcube_io2,readonly \
  --mount type=bind,source="$RERUN/reference_model-infer"/outputs/output_path,target=/mlcube_io3 \
  --label org.medperf-action.managed=1 \
  --label org.medperf-action.cube=breast-cancer-lr \
  --label org.medperf-action.task=infer \
  --label org.medperf-action.run=c33404e9c815 \
  --env HOME=/tmp \
  --env PYTHONUNBUFFERED=1 \
  sha256:44105f39075d0a0d9231c8e50acdd65ba6b21010b3c05f87f2c39e575d9220bd infer \
  --data_path=/mlcube_io0 \
  --parameters_file=/mlcube_io1/parameters.yaml \
  --weights=/mlcube_io2/weights.json \
  --output_path=/mlcube_io3

# breast-cancer-metrics evaluate (reference): exit code 0
# its log: logs/evaluator-evaluate-reference_model.log
mkdir -p "$RERUN/evaluator-evaluate-reference_model"/outputs/output_path/results.yaml
chown -R 10001:10001 "$RERUN/evaluator-evaluate-reference_model"  # as the run did: it ran as root
docker run --rm \
  --user 10001:10001 \
  --network none \
  --cap-drop ALL \
  --security-opt no-new-privileges \
  --pids-limit 512 \
  --memory 8g \
  --memory-swap 8g \
  --read-only \
  --tmpfs /tmp:rw,exec,nosuid,nodev,size=1g,mode=1777 \
  --mount type=bind,source=/tmp/pytest-of-root/pytest-217/cache0/steps/252a9aed3df7baf3ea69886adcecceea1d6b1122614caf06288984f71e21845c/outputs/output_path,target=/mlcube_io0,readonly \
  --mount type=bind,source=/tmp/pytest-of-root/pytest-217/cache0/steps/1421d31511f0376053afcb5a1aa8c81d506652c34c93439e5afcdcf8a6a18905/outputs/output_labels_path,target=/mlcube_io1,readonly \
  --mount type=bind,source=/work/wt-run/examples/evaluator/mlcube/workspace,target=/mlcube_io2,readonly \
  --mount type=bind,source="$RERUN/evaluator-evaluate-reference_model"/outputs/output_path,target=/mlcube_io3 \
  --label org.medperf-action.managed=1 \
  --label org.medperf-action.cube=breast-cancer-metrics \
  --label org.medperf-action.task=evaluate \
  --label org.medperf-action.run=c33404e9c815 \
  --env HOME=/tmp \
  --env PYTHONUNBUFFERED=1 \
  sha256:d39ba4adfc3e15008b1b9f0f06c75292579c6ccbaf7bf3d064e51541240c07b0 evaluate \
  --predictions=/mlcube_io0 \
  --labels=/mlcube_io1 \
  --parameters_file=/mlcube_io2/parameters.yaml \
  --output_path=/mlcube_io3/results.yaml

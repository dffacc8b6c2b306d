#!/usr/bin/env bash
# LocalStack ready hook (mounted at /etc/localstack/init/ready.d by localstack/docker-compose.yml): creates the
# tables, the event bus and the queues of infra/template.yaml. Also runnable outside the container, e.g.
#   SHOP_LOCALSTACK_DIR=localstack SHOP_PYTHON=~/.cache/shop-backend/venv-moto-<ver>/bin/python \
#   DYNAMODB_ENDPOINT=http://127.0.0.1:8000 EVENTS_ENDPOINT=http://127.0.0.1:5000 localstack/init/ready.d/10-create-resources.sh
set -euo pipefail

dir="${SHOP_LOCALSTACK_DIR:-/opt/shop/localstack}"
template="${SHOP_TEMPLATE:-$dir/../infra/template.yaml}"
python="${SHOP_PYTHON:-}"
if [[ -z "$python" ]]; then
  # LocalStack's own interpreter has boto3 and PyYAML.
  if [[ -x /opt/code/localstack/.venv/bin/python ]]; then python=/opt/code/localstack/.venv/bin/python; else python=python3; fi
fi

export DYNAMODB_ENDPOINT="${DYNAMODB_ENDPOINT:-http://localhost:4566}"
export EVENTS_ENDPOINT="${EVENTS_ENDPOINT:-http://localhost:4566}"
export AWS_REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-ap-northeast-2}}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"

exec "$python" "$dir/create_resources.py" --template "$template"

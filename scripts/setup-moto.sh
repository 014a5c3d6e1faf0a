#!/usr/bin/env bash
# Installs the AWS emulator (moto in server mode) into a virtualenv owned by
# the project: .venv/ at the repository root, or $PROVISION_VENV.
# Idempotent: a second run with moto present does nothing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${PROVISION_VENV:-$root/.venv}"
want='moto[server]>=5.1,<6'
if [ -x "$venv/bin/moto_server" ]; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "$want"
"$venv/bin/moto_server" --help >/dev/null
echo "moto installed in $venv ($("$venv/bin/python" -c 'import moto; print(moto.__version__)'))"

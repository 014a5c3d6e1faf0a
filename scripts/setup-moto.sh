#!/usr/bin/env bash
# Installs the AWS emulator (moto in server mode) into a virtualenv owned by
# the project: .venv/ at the repository root, or $PROVISION_VENV.
# Idempotent: with the pinned version present it does nothing.
#
# Pinned to 5.1.22: moto 5.2.x answers S3 GetBucketVersioning (and other S3
# reads) with a <GetBucketVersioningResponse> root element instead of AWS's
# <VersioningConfiguration>, which the AWS SDK for Rust rightly rejects.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${PROVISION_VENV:-$root/.venv}"
version=5.1.22
if [ -x "$venv/bin/moto_server" ] &&
   [ "$("$venv/bin/python" -c 'import moto; print(moto.__version__)' 2>/dev/null)" = "$version" ]; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$version"
"$venv/bin/moto_server" --help >/dev/null
echo "moto $version installed in $venv"

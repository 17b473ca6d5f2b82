#!/usr/bin/env bash
# Debian's BCC Python module is pure Python over libbcc.so.0, so the venv can use
# it through a symlink (the PyPI package named "bcc" is an unrelated library).
set -euo pipefail
python=${1:?usage: link-bcc.sh VENV_PYTHON}
site=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [ -d /usr/lib/python3/dist-packages/bcc ]; then
  ln -sfn /usr/lib/python3/dist-packages/bcc "$site/bcc"
else
  echo "link-bcc: Debian's python3-bpfcc is not installed; eBPF probes will fall back to PSI" >&2
fi

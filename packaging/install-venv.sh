#!/bin/sh
# The one install recipe for kubereach from a source tree into a new virtual environment.
# The Dockerfile's build stage runs it; tests/test_packaging.py replays it in a clean venv
# from the same base Python, so the image's install steps and the tested ones cannot drift.
#
#   sh packaging/install-venv.sh SOURCE_DIR VENV_DIR      (PYTHON picks the interpreter)
set -eu
src=$1
venv=$2
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-warn-script-location "$src"
# pip and setuptools are not needed to run kubereach: leaving them out makes the image smaller
# and gives it less to patch.
"$venv/bin/python" -m pip uninstall --disable-pip-version-check --yes --quiet pip setuptools
"$venv/bin/kubereach" --help >/dev/null

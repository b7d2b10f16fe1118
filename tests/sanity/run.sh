#!/usr/bin/env bash
# ansible-test sanity on a copy of the tracked files, placed where ansible-test
# wants a collection: <tmp>/ansible_collections/kernel/kmod.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/kernel/kmod"
mkdir -p "$dest"
(cd "$repo" && git ls-files -co --exclude-standard -z | rsync -a --from0 --files-from=- ./ "$dest/")
cd "$dest"
# ansible-test's pip bootstrap script comes from a host we cannot reach; give it ours.
mkdir -p ~/.ansible/test/cache
for v in $(python3 -c 'import ansible_test, glob, os, re
d = os.path.join(os.path.dirname(ansible_test.__file__), "_data", "requirements")
print(" ".join(sorted({m.replace(".", "_") for f in glob.glob(d + "/*.txt") for m in re.findall(r"^pip==([0-9.]+)", open(f).read(), re.M)} or {"24_2"})))'); do
    cp "$repo/tests/sanity/get_pip_offline.py" ~/.ansible/test/cache/get_pip_"$v".py
done
git init -q . && git add -A && git -c user.name=ci -c user.email=ci@invalid commit -qm sanity
python_version=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
ansible-test sanity --color=no --venv --python "$python_version" "$@"

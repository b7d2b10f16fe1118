#!/usr/bin/env bash
# Lint the collection's documentation and build its docsite into .build/docs.
# Run with the test virtualenv's bin first on PATH (make docs does).
# The build machine reaches no intersphinx inventory, so cross-references to
# docs.ansible.com cannot resolve: those warnings are tolerated, any other fails.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export ANSIBLE_COLLECTIONS_PATH="$repo/.build"
# Nothing goes to the user's home: ansible-core's tmp and galaxy cache live in
# .build, and antsibull's log (by default ~/antsibull.log) in .build/docs-log.
export ANSIBLE_HOME="$repo/.build/ansible-home"
log_dir="$repo/.build/docs-log"
log_cfg="$log_dir/antsibull-log.cfg"
mkdir -p "$log_dir"
cat > "$log_cfg" <<END
logging_cfg = {
    version = 1.0
    outputs = {
        logfile = {
            output = twiggy.outputs.FileOutput
            args = [
                $log_dir/antsibull.log
            ]
        }
        stderr = {
            output = twiggy.outputs.StreamOutput
            format = twiggy.formats.shell_format
        }
    }
    emitters = {
        all = {
            level = INFO
            output_name = logfile
            filters = []
        }
        problems = {
            level = WARNING
            output_name = stderr
            filters = []
        }
    }
}
END
# antsibull-docs copies the collection into a mkdtemp directory whose name reaches the
# reST it lints; a random name with '_' in it ("antsibull-docs-j9q5_rc") reads as a
# reference and fails the lint (about one run in five). Its temporary names here are
# letters and digits only.
antsibull_docs() {
    python -c 'import sys, tempfile
tempfile._RandomNameSequence.characters = "abcdefghijklmnopqrstuvwxyz0123456789"
from antsibull_docs.cli.antsibull_docs import main
sys.argv[0] = "antsibull-docs"
sys.exit(main())' "$@"
}
(cd "$repo/.build/ansible_collections/kernel/kmod" &&
    antsibull_docs --config-file "$log_cfg" lint-collection-docs --plugin-docs --validate-collection-refs=all \
        --disallow-unknown-collection-refs .)
(cd "$repo" && antsibull-changelog lint)
out="$repo/.build/docs"
rm -rf "$out" && mkdir -p "$out"
antsibull_docs --config-file "$log_cfg" sphinx-init --use-current --dest-dir "$out" kernel.kmod >/dev/null
echo 'intersphinx_mapping = {}' >> "$out/conf.py"
mkdir -p "$out/rst" && chmod og-w "$out/rst"
antsibull_docs --config-file "$out/antsibull-docs.cfg" --config-file "$log_cfg" collection --cleanup everything \
    --use-current --dest-dir "$out/rst" kernel.kmod
sphinx-build -M html "$out/rst" "$out/build" -c "$out" -q 2> "$out/warnings.log" || { cat "$out/warnings.log"; exit 1; }
unexpected=$(grep -v -e "undefined label: 'ansible_configuration_settings'" -e "undefined label: 'common_return_values'" "$out/warnings.log" | grep -i 'warning\|error' || true)
if [ -n "$unexpected" ]; then
    echo "docs build warnings:"; echo "$unexpected"; exit 1
fi
echo "docs built: $out/build/html/index.html"

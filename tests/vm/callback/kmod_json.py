# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stdout callback for the test harness: every task result as JSON.

ansible-core has no JSON callback of its own.  Tests need the per-task,
per-host results of a playbook or an ad-hoc run; this writes them to the file
named by KMOD_ANSIBLE_JSON (or, without it, to stdout at the end) and prints
one readable line per result while the run goes on.
"""

import json
import os

from ansible.plugins.callback import CallbackBase
from ansible.vars.clean import module_response_deepcopy, strip_internal_keys

DOCUMENTATION = '''
    name: kmod_json
    type: stdout
    short_description: task results as JSON, for kernel.kmod's tests
    description:
      - Collects every task result and writes them, with the play stats, as one JSON document.
'''


def _plain(value):
    """Warnings, deprecations and exceptions may be objects in recent ansible-core: keep their text."""
    for attr in ('msg', 'message'):
        if isinstance(getattr(value, attr, None), str):
            return getattr(value, attr)
    details = getattr(value, 'details', None)
    if details:
        return '; '.join(str(getattr(d, 'msg', d)) for d in details)
    return str(value)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'kmod_json'

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self.results = []
        self.stats = {}

    def _record(self, status, result):
        data = strip_internal_keys(module_response_deepcopy(dict(result._result)))
        task = result._task
        entry = {
            'task': task.get_name(),
            'action': task.action,
            'host': result._host.get_name(),
            'status': status,
            'changed': bool(data.get('changed', False)),
            'result': data,
        }
        self.results.append(entry)
        line = '%s: [%s] %s' % (status, entry['host'], entry['task'])
        if status in ('failed', 'unreachable') and data.get('msg'):
            line += ': %s' % data['msg']
        # Without a results file stdout carries the JSON alone, so the progress lines go to stderr.
        self._display.display(line, stderr=not os.environ.get('KMOD_ANSIBLE_JSON'))

    def v2_runner_on_ok(self, result):
        self._record('changed' if result._result.get('changed') else 'ok', result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record('ignored' if ignore_errors else 'failed', result)

    def v2_runner_on_skipped(self, result):
        self._record('skipped', result)

    def v2_runner_on_unreachable(self, result):
        self._record('unreachable', result)

    def v2_playbook_on_stats(self, stats):
        self.stats = dict((host, stats.summarize(host)) for host in sorted(stats.processed))
        self._write()

    def _write(self):
        doc = json.dumps({'tasks': self.results, 'stats': self.stats}, default=_plain, sort_keys=True, indent=1)
        path = os.environ.get('KMOD_ANSIBLE_JSON')
        if path:
            with open(path, 'w') as f:
                f.write(doc)
        else:
            self._display.display(doc)

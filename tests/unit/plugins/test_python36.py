# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plugins run on managed nodes with Python 3.6 or newer (README): no
call of a method or argument the standard library gained later, read from
the sources with ast (the unit tests themselves run on a newer Python).
A failure names the file and line."""

import ast
import os

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
PLUGINS = os.path.join(REPO, 'plugins')

# str/bytes methods of 3.7+ (isascii) and 3.9+ (removeprefix, removesuffix)
NEWER_METHODS = {'isascii': '3.7', 'removeprefix': '3.9', 'removesuffix': '3.9'}
# subprocess.run(capture_output=..., text=...): 3.7
NEWER_KEYWORDS = {'capture_output': '3.7', 'text': '3.7'}


def _calls_of_newer_python():
    found = []
    for directory, _dirs, names in os.walk(PLUGINS):
        for name in sorted(names):
            if not name.endswith('.py'):
                continue
            path = os.path.join(directory, name)
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            where = os.path.relpath(path, REPO)
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                if isinstance(node.func, ast.Attribute) and node.func.attr in NEWER_METHODS:
                    found.append('%s:%d: .%s() needs Python %s' % (where, node.lineno, node.func.attr,
                                                                   NEWER_METHODS[node.func.attr]))
                for keyword in node.keywords:
                    if keyword.arg in NEWER_KEYWORDS:
                        found.append('%s:%d: %s= needs Python %s' % (where, node.lineno, keyword.arg,
                                                                     NEWER_KEYWORDS[keyword.arg]))
    return found


def test_no_call_needs_a_python_newer_than_3_6():
    assert _calls_of_newer_python() == []

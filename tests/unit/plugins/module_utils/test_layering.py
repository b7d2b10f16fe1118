# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The library's layers, read from its sources with ast.

Every import of the library, at module level or inside a function, must
follow an edge of ALLOWED; files never import each other in a cycle; all
library imports have one form (``from ...module_utils.PKG.FILE import
Name``); each module imports only the package of its own job and errors; no
file sits at the top of module_utils beyond the general ones; each library
file has its own test file.  A failure names the file and line.
"""

import ast
import os

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
LIB = os.path.join(REPO, 'plugins', 'module_utils')
MODULES = os.path.join(REPO, 'plugins', 'modules')
TESTS = os.path.join(REPO, 'tests', 'unit', 'plugins', 'module_utils')
PREFIX = 'ansible_collections.kernel.kmod.plugins.module_utils'

# The files at the top of module_utils, used by every layer.
GENERAL = {'errors', 'names', 'files', 'cache_file', 'forked', 'fnmatch_glibc', 'lock', 'programs', 'trust'}

# package -> the packages it may import ('general' is the top level); a
# package may always import its own files.
ALLOWED = {
    'general': set(),
    'image': {'general'},
    'index': {'general'},
    'config': {'general'},
    'kernel': {'general', 'image'},
    'tree': {'general', 'index'},
    'depmod': {'general', 'image', 'index', 'config', 'tree'},
    'load': {'general', 'image', 'config', 'kernel', 'tree'},
    'facts': {'general', 'image', 'config', 'kernel', 'tree', 'initramfs'},
    'initramfs': {'general', 'image', 'config', 'tree', 'index'},
    'blacklist': {'general', 'image', 'config', 'kernel', 'tree', 'load', 'initramfs'},
}

# module -> the one package of its job (errors is allowed to all of them)
MODULE_PACKAGES = {
    'kmod_depmod': 'depmod',
    'kmod_facts': 'facts',
    'kmod_load': 'load',
    'kmod_blacklist': 'blacklist',
    'kmod_initramfs': 'initramfs',
}


def package_of(dotted):
    """'depmod.scan' -> 'depmod'; 'errors' -> 'general'."""
    return dotted.split('.')[0] if '.' in dotted else 'general'


def library_imports(source, filename):
    """(line, dotted target under module_utils, problem or None) for every
    import of the library in source, at any depth."""
    out = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PREFIX or alias.name.startswith(PREFIX + '.'):
                    out.append((node.lineno, alias.name[len(PREFIX) + 1:],
                                "'import %s': use 'from %s import NAME'" % (alias.name, alias.name)))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                out.append((node.lineno, '', 'a relative import: import from %s.PKG.FILE' % PREFIX))
            elif node.module == PREFIX or (node.module or '').startswith(PREFIX + '.'):
                target = node.module[len(PREFIX) + 1:]
                problem = None
                if not os.path.isfile(os.path.join(LIB, *target.split('.')) + '.py'):
                    problem = "'from %s import ...' imports a package, not names from a file" % node.module
                out.append((node.lineno, target, problem))
    return out


def layering_violations(relpath, source):
    """Messages for one library file (relpath under module_utils, '/'-separated)."""
    own = package_of(relpath[:-3].replace('/', '.'))
    messages = []
    for line, target, problem in library_imports(source, relpath):
        where = 'plugins/module_utils/%s:%d' % (relpath, line)
        if problem:
            messages.append('%s: %s' % (where, problem))
            continue
        theirs = package_of(target)
        if theirs != own and theirs not in ALLOWED[own]:
            messages.append('%s: %s imports %s (%s); %s may import only: %s' % (
                where, own, theirs, target, own, ', '.join(sorted(ALLOWED[own])) or 'nothing but itself'))
    return messages


def library_files():
    """{dotted name: relpath} of every library file but the __init__ files."""
    found = {}
    for top, dirs, files in os.walk(LIB):
        dirs[:] = [d for d in dirs if d != '__pycache__']
        for name in files:
            if name.endswith('.py') and name != '__init__.py':
                rel = os.path.relpath(os.path.join(top, name), LIB).replace(os.sep, '/')
                found[rel[:-3].replace('/', '.')] = rel
    return found


def read(relpath, base=LIB):
    with open(os.path.join(base, relpath)) as f:
        return f.read()


def test_every_library_import_follows_an_allowed_edge():
    messages = []
    for rel in sorted(library_files().values()):
        messages += layering_violations(rel, read(rel))
    assert not messages, '\n'.join(messages)


def test_a_forbidden_import_is_reported_with_file_and_line():
    source = 'import os\n\n\ndef f():\n    from %s.load.plan import plan_load\n' % PREFIX
    assert layering_violations('index/binary.py', source) == [
        'plugins/module_utils/index/binary.py:5: index imports load (load.plan); index may import only: general']
    assert layering_violations('errors.py', 'from %s.depmod.scan import scan_modules\n' % PREFIX) == [
        'plugins/module_utils/errors.py:1: general imports depmod (depmod.scan); '
        'general may import only: nothing but itself']


@pytest.mark.parametrize('source, problem', [
    ('from %s.config import modprobe\n' % PREFIX, 'imports a package'),
    ('from %s import errors\n' % PREFIX, 'imports a package'),
    ('import %s.errors\n' % PREFIX, "use 'from"),
    ('from .modprobe import parse_modprobe_text\n', 'relative import'),
])
def test_one_import_style(source, problem):
    messages = layering_violations('config/depmod.py', source)
    assert len(messages) == 1 and problem in messages[0]


def test_files_never_import_each_other_in_a_cycle():
    files = library_files()
    graph = {name: sorted(set(t for _l, t, p in library_imports(read(rel), rel) if not p and t != name))
             for name, rel in files.items()}
    state = {}

    def visit(name, path):
        state[name] = 'open'
        for target in graph.get(name, ()):
            if state.get(target) == 'open':
                cycle = path[path.index(target):] + [target]
                pytest.fail('import cycle: ' + ' -> '.join(cycle))
            if target not in state:
                visit(target, path + [target])
        state[name] = 'done'

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_packages_are_the_layers_and_the_top_holds_only_general_files():
    entries = sorted(e for e in os.listdir(LIB) if e != '__pycache__')
    top_files = set(e[:-3] for e in entries if e.endswith('.py')) - {'__init__'}
    packages = set(e for e in entries if os.path.isdir(os.path.join(LIB, e)))
    assert top_files == GENERAL
    assert packages == set(ALLOWED) - {'general'}
    assert ast.get_docstring(ast.parse(read('__init__.py'))), '__init__.py: say how the library is layered'
    for pkg in packages:
        doc = ast.get_docstring(ast.parse(read(pkg + '/__init__.py'))) or ''
        assert 'May import' in doc, '%s/__init__.py: say the package\'s job and what it may import' % pkg


def test_modules_import_only_their_package_and_errors():
    names = sorted(n[:-3] for n in os.listdir(MODULES) if n.endswith('.py') and n != '__init__.py')
    assert names == sorted(MODULE_PACKAGES), 'a module without a package in MODULE_PACKAGES'
    messages = []
    for name in names:
        for line, target, problem in library_imports(read(name + '.py', MODULES), name):
            if problem or (target != 'errors' and package_of(target) != MODULE_PACKAGES[name]):
                messages.append('plugins/modules/%s.py:%d: %s' % (name, line, problem or 'imports ' + target))
    assert not messages, '\n'.join(messages)


def test_each_library_file_has_a_test_file_of_its_own():
    missing = []
    for rel in sorted(library_files().values()):
        folder, _sep, name = rel.rpartition('/')
        test = os.path.join(TESTS, folder, 'test_' + name)
        if not os.path.isfile(test):
            missing.append('plugins/module_utils/%s: no %s' % (rel, os.path.relpath(test, REPO)))
    assert not missing, '\n'.join(missing)

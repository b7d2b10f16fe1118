# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Assemble ansible_facts.kmod from the tree, the config and the kernel.

Pure reading: every source takes its root, so the same code describes the
running system or an image under another directory.
"""

import os

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.facts.system_config import read_system_config
from ansible_collections.kernel.kmod.plugins.module_utils.kernel.state import KernelState
from ansible_collections.kernel.kmod.plugins.module_utils.kernel.taint import decode_mask
from ansible_collections.kernel.kmod.plugins.module_utils.names import module_name, module_name_from_path
from ansible_collections.kernel.kmod.plugins.module_utils.tree.module_dir import ModuleTree, releases_under


def gather_facts(root='/', release=None, available=False, modules=(), kernel=None, initramfs=False):
    """(facts dict, warnings list) for `release` under `root`.

    initramfs: also read the release's initramfs image and say whether it
    is stale (reading it takes a while, so only when asked);
    kernel: the KernelState of this host (tests pass one over a fake root);
    the live kernel is described only when `root` is that kernel's root and
    `release` its release.
    """
    warnings = []
    host_kernel = kernel or KernelState('/')
    running_release = host_kernel.release()
    release = release or running_release
    if not release:
        raise KmodError('cannot tell the running kernel release; set kernel_release')
    running = os.path.realpath(root) == os.path.realpath(host_kernel.root) and release == running_release

    tree = ModuleTree(root, release)
    if not tree.exists:
        found = releases_under(root)
        warnings.append('no module directory for kernel %s under %s (found: %s)'
                        % (release, root, ', '.join(found) or 'none'))
    try:
        facts = {
            'kernel_release': release,
            'module_dir': tree.module_dir,
            'running': running,
            'builtin': tree.builtin(),
        }
        if running:
            facts.update(_kernel_facts(host_kernel))
        else:
            facts.update({'loaded': {}, 'builtin_params': {}, 'cmdline': None,
                          'kernel': dict.fromkeys(('tainted', 'taint_flags', 'sig_enforce',
                                                   'modules_disabled', 'compression'))})
        config = read_system_config(root, tree.module_dir, facts['cmdline'])
        facts['config'] = config['modprobe']
        facts['modules_load'] = config['modules_load']
        warnings.extend(config['warnings'])
        if available:
            facts['available'] = tree.available()
        if modules:
            facts.update(_info_facts(tree, config['alias_lookup'], modules, warnings))
        if initramfs:
            # Imported here: the image readers are needed only when asked for.
            from ansible_collections.kernel.kmod.plugins.module_utils.initramfs.task import describe
            facts['initramfs'], found = describe(root, release)
            warnings.extend(found)
        warnings.extend(tree.warnings)
        warnings.extend(host_kernel.warnings if running else [])
    finally:
        tree.close()
    return facts, warnings


def _kernel_facts(kernel):
    survey = kernel.survey(params=True)
    tainted = kernel.tainted()
    return {
        'loaded': survey['loaded'],
        'builtin_params': dict((name, info.get('params', {})) for name, info in survey['builtin'].items()),
        'cmdline': kernel.cmdline(),
        'kernel': {
            'tainted': tainted,
            'taint_flags': decode_mask(tainted)['flags'] if tainted is not None else None,
            'sig_enforce': kernel.sig_enforce(),
            'modules_disabled': kernel.modules_disabled(),
            'compression': kernel.compression(),
        },
    }


def _info_facts(tree, alias_lookup, requested, warnings):
    """modinfo of each requested name: {'info', 'lookup', 'missing'}."""
    # The ELF and compression readers and the lookup are imported only when
    # modinfo is asked for: most runs do not need them, and under Ansible
    # every import is compiled afresh.
    from ansible_collections.kernel.kmod.plugins.module_utils.image.modinfo import builtin_info, file_info
    from ansible_collections.kernel.kmod.plugins.module_utils.tree.lookup import lookup
    info = {}
    resolved = {}
    missing = []
    for asked in requested:
        if os.path.isabs(asked) or asked.startswith('./'):
            if os.path.isfile(asked):
                entry = file_info(asked, _name_of_path(asked))
                info[entry['name']] = entry
                resolved[asked] = [entry['name']]
                continue
        match = lookup(tree, asked, alias_lookup) if tree.exists else None
        if match is None:
            missing.append(asked)
            warnings.append('module %s not found in %s' % (asked, tree.module_dir or tree.root))
            continue
        resolved[asked] = match.names
        for name in match.names:
            if name in info:
                continue
            entry = tree.dep_entry(name)
            if entry is not None:
                try:
                    info[name] = file_info(entry[0], name)
                except KmodError as exc:
                    warnings.append(str(exc))
            elif tree.is_builtin(name):
                info[name] = builtin_info(tree.builtin_modinfo(name), name)
            else:
                missing.append(asked)
                warnings.append('module %s (from %s) not found in %s' % (name, asked, tree.module_dir))
    return {'info': info, 'lookup': resolved, 'missing': missing}


def _name_of_path(path):
    return module_name_from_path(path) or module_name(os.path.basename(path))

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: kmod_depmod
short_description: Rebuild kernel module indexes like depmod, changing only what differs
version_added: 0.1.0
description:
  - Rebuilds the module indexes of one or more kernel releases (C(modules.dep), C(modules.alias),
    C(modules.softdep), C(modules.symbols), C(modules.devname), C(modules.weakdep) with kmod 33 and
    later, and the C(.bin) indexes C(modprobe) reads) in Python, so that C(modprobe), udev and
    the other modules of this collection find modules copied in by hand or by a package.
  - The files are byte for byte those kmod's C(depmod) writes on the same tree, following the
    C(depmod.d) settings (C(search), C(override), C(external), C(exclude)), C(modules.order),
    C(modules.builtin) and C(modules.builtin.modinfo).
  - Each index is compared with the file on disk and written only when it differs (temporary file in
    the same directory, fsync, rename), so a second run reports no change and touches no file.
  - A dependency cycle fails the task, naming the cycle, and nothing is written. Every release is
    planned before any is written.
  - A module file that cannot be read or parsed is reported in RV(releases.RELEASE.skipped) and indexed
    without dependencies, as C(depmod) does.
  - The C(depmod) copied is the node's kmod (C(kmod --version)), see O(kmod_version).
  - A small state file per module directory in O(cache_dir) lets a run with nothing changed finish without
    reading any module. The directory is safe to delete.
author:
  - kernel.kmod developers (@kernel-kmod)
options:
  kernel_release:
    description:
      - The kernel releases whose indexes are rebuilt, as C(uname -r) prints them.
      - V(all) means every release that has a module directory under O(basedir).
      - Defaults to the running kernel's release.
    type: list
    elements: str
  basedir:
    description:
      - Base directory under which C(lib/modules/<release>) (or C(usr/lib/modules/<release>)) is found,
        as C(depmod -b) takes it, for example an image being built.
      - As with C(depmod -b), C(depmod.d) is still read from the node's C(/).
    type: path
    default: /
  config_paths:
    description:
      - Files or directories read instead of the C(depmod.d) directories, as C(depmod -C) takes them.
      - By default C(/etc/depmod.d), C(/run/depmod.d), C(/usr/local/lib/depmod.d), C(/usr/lib/depmod.d)
        and C(/lib/depmod.d).
    type: list
    elements: path
  quick:
    description:
      - As C(depmod -A). Do nothing when C(modules.dep) exists and no module file is newer than it
        (whole seconds of modification time; only the module directory itself is looked at).
    type: bool
    default: false
  check_symbols:
    description:
      - As C(depmod -e). Report symbols that modules need and neither another module nor the kernel
        exports, in RV(releases.RELEASE.unresolved), and with O(symvers) CRC mismatches in
        RV(releases.RELEASE.bad_versions).
      - Needs O(symvers) or O(system_map); without them C(depmod) only warns, and so does this module.
    type: bool
    default: false
  symvers:
    description:
      - The kernel's C(Module.symvers), as C(depmod -E) takes it; its symbols count as provided by the kernel.
      - A path on the managed node.
    type: path
  system_map:
    description:
      - The kernel's C(System.map), as C(depmod -F) takes it; its C(__ksymtab_) symbols count as provided by
        the kernel.
      - A path on the managed node.
    type: path
  fail_on_unresolved:
    description:
      - Fail the task, writing nothing, when a module needs a symbol nobody provides (or, with O(symvers),
        disagrees about a symbol's version). Implies O(check_symbols) and needs O(symvers) or O(system_map).
    type: bool
    default: false
  cache_dir:
    description:
      - Directory for the state file and the parse cache of each module directory, named after the
        release and a hash of the module directory.
      - The state file records a digest of every input (each module file's path, size, modification
        time and inode, the C(depmod.d) settings, C(modules.order), C(modules.builtin),
        C(modules.builtin.modinfo), the options) and the size, modification time and inode of every
        index as written. When all of them still match, the task reports no change without reading
        any module. A touched, added or removed module, a changed setting, or an index edited or
        deleted by hand makes it rebuild as usual.
      - C(kmod-version) keeps what C(kmod --version) printed, with the program's path, size, modification
        time, inode and change time, so that kmod is asked again only after it changed.
      - Everything in it is safe to delete at any time; the next run rebuilds it.
      - It is used only when nobody but root (or the user running the task) could have written it. The
        directory, every directory above it (a root-owned sticky one such as C(/tmp) excepted) and each file
        must be owned by root or that user and writable by neither group nor others, and each file must be a
        regular file (a symbolic link is not followed). Otherwise it is ignored with a warning and the run does
        the full work. An entry that does not hold what a parse gives (such as a control character in an alias,
        or a malformed list) is dropped and its module parsed again.
      - V(null) (or an empty string) disables the cache and the shortcut.
    type: path
    default: /var/cache/kernel-kmod/depmod
  workers:
    description:
      - Processes reading module files in parallel (the task's own and forked children). Defaults to the number
        of CPUs the task may use.
      - With more than one, the two largest indexes are also built in a forked child while the dependency graph
        is resolved, and the check that nothing changed walks the module tree in two processes. V(1) keeps
        everything in the task's process.
    type: int
  kmod_version:
    description:
      - The kmod version whose C(depmod) is copied, for example V(30) or V(34).
      - Defaults to the node's kmod (C(kmod --version)), or V(30) when the node has none.
      - With 33 and later C(modules.weakdep) is written; with 34 and later the C(.bin) indexes are laid
        out in pre-order, a module listed twice in C(modules.order) keeps its first position, and a zstd
        module whose frame header does not declare its size is indexed without symbols, as kmod 34 cannot
        decompress it.
      - Module files with a compression the node's kmod was built without (C(-XZ), C(-ZSTD), C(-ZLIB) in
        C(kmod --version)) are not indexed, as that C(depmod) ignores them; this holds whatever O(kmod_version) says.
    type: str
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reports exactly which files would change and how, and writes nothing (not even the cache).
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Shows the changes of C(modules.dep), C(modules.alias) and C(modules.softdep), each side cut at 64 KiB.
notes:
  - Replaces C(ansible.builtin.command) tasks running C(depmod -a), which always report a change.
  - Two runs of this module on one module directory take turns (an C(flock) on the directory itself, shared in
    check mode); a run that waits more than 120 seconds for another fails, naming the other run's pid. kmod's own
    C(depmod) does not take this lock.
  - When a module file changes while a run reads the tree, the indexes are written but the state is not saved, so
    the next run rebuilds them.
  - C(.ko.xz) and C(.ko.gz) files are read with the standard library. C(.ko.zst) files are read with the
    C(zstandard) Python package when the node has it, else with the C(zstd) program, one process for many files
    (those whose frames declare their size, as C(zstd) and the kernel's C(modules_install) write them).
seealso:
  - module: kernel.kmod.kmod_facts
  - name: depmod(8)
    description: The kmod tool this module reimplements.
    link: https://man7.org/linux/man-pages/man8/depmod.8.html
'''

EXAMPLES = r'''
- name: Rebuild the indexes of the running kernel after copying a module into updates/
  kernel.kmod.kmod_depmod:

- name: Rebuild the indexes of every installed kernel
  kernel.kmod.kmod_depmod:
    kernel_release: all

- name: Index an image being built, failing on modules with unresolved symbols
  kernel.kmod.kmod_depmod:
    basedir: /srv/image
    kernel_release: 6.1.0-56-amd64
    system_map: /srv/image/boot/System.map-6.1.0-56-amd64
    fail_on_unresolved: true

- name: Only when a module is newer than modules.dep, as depmod -A
  kernel.kmod.kmod_depmod:
    quick: true
  register: depmod

- name: Show what changed
  ansible.builtin.debug:
    var: depmod.releases
'''

RETURN = r'''
changed:
  description: Whether an index file of any release changed (or would change in check mode).
  returned: always
  type: bool
releases:
  description: One entry per kernel release, keyed by release.
  returned: always
  type: dict
  contains:
    RELEASE:
      description: What happened to this release's indexes (the key is the release).
      type: dict
      contains:
        changed:
          description: Whether an index file of this release changed.
          type: bool
        module_dir:
          description: The module directory.
          type: str
          sample: /lib/modules/6.1.0-56-amd64
        modules:
          description: The number of modules indexed.
          type: int
          sample: 4023
        parsed:
          description:
            - The number of module files read and parsed in this run; the others came from the parse cache
              in O(cache_dir) (V(0) when a shortcut applied).
          type: int
          sample: 1
        shortcut:
          description:
            - V(state) when the state file showed nothing changed, V(quick) when O(quick) found
              C(modules.dep) up to date, V(null) after a full rebuild.
          type: str
        written:
          description: The index files written (in check mode, that would be written), in C(depmod)'s order.
          type: list
          elements: str
          sample: [modules.dep, modules.dep.bin]
        files:
          description:
            - For each file in RV(releases.RELEASE.written), its action (V(create) or V(update)) and how many
              entries were added and removed (lines of a text file, key and value pairs of a C(.bin) file).
            - A C(.bin) file updated together with the text file it mirrors (C(modules.dep), C(modules.alias),
              C(modules.symbols)) has that file's counts, as both are written from the same entries; reading the
              old trie back would be the slowest part of a small update.
          type: dict
          sample: {modules.dep: {action: update, added: 1, removed: 0}}
        unresolved:
          description: With O(check_symbols), each needed symbol nobody provides, with the module and its file.
          type: list
          elements: dict
          sample: [{module: foo, path: /lib/modules/6.1.0-56-amd64/updates/foo.ko, symbol: bar}]
        bad_versions:
          description: With O(check_symbols) and O(symvers), each needed symbol whose CRC differs from the provider's.
          type: list
          elements: dict
        cycles:
          description: Always empty here; a dependency cycle fails the task and its message names the cycle.
          type: list
          elements: list
        skipped:
          description:
            - Files not indexed as found, with the reason; a module file that cannot be read or parsed is
              listed here and indexed without dependencies, as C(depmod) does.
          type: list
          elements: dict
        messages:
          description: C(depmod)'s own words for the unresolved symbols and version mismatches.
          type: list
          elements: str
        warnings:
          description: What C(depmod) would warn about (missing C(modules.order), C(modules.builtin)...).
          type: list
          elements: str
kmod:
  description: The kmod whose C(depmod) was copied, and what that implies.
  returned: always
  type: dict
  sample: {version: 30, detected: true, bin_layout: post, weakdep: false, first_order_line_wins: false,
           zstd_needs_size: false, suffixes: [.ko.zst, .ko.xz, .ko]}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kernel.kmod.plugins.module_utils.depmod.pipeline import make_options, run_depmod_releases
from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kernel_release=dict(type='list', elements='str'),
            basedir=dict(type='path', default='/'),
            config_paths=dict(type='list', elements='path'),
            quick=dict(type='bool', default=False),
            check_symbols=dict(type='bool', default=False),
            symvers=dict(type='path'),
            system_map=dict(type='path'),
            fail_on_unresolved=dict(type='bool', default=False),
            cache_dir=dict(type='path', default='/var/cache/kernel-kmod/depmod'),
            workers=dict(type='int'),
            kmod_version=dict(type='str'),
        ),
        mutually_exclusive=[('symvers', 'system_map')],
        supports_check_mode=True,
    )
    params = module.params
    if params['workers'] is not None and params['workers'] < 1:
        module.fail_json(msg='workers must be at least 1, not %d' % params['workers'])
    try:
        options = make_options(
            kmod_version=params['kmod_version'],
            basedir=params['basedir'],
            config_paths=params['config_paths'],
            quick=params['quick'],
            check_symbols=params['check_symbols'],
            symvers=params['symvers'],
            system_map=params['system_map'],
            fail_on_unresolved=params['fail_on_unresolved'],
            cache_dir=params['cache_dir'] or None,
            workers=params['workers'],
            check_mode=module.check_mode,
            diff=module._diff,
        )
        result = run_depmod_releases(params['kernel_release'], options=options)
    except KmodError as exc:
        module.fail_json(**exc.fail_kwargs())
    for report in result['releases'].values():
        for warning in report['warnings']:
            module.warn('%s: %s' % (report['release'], warning))
    out = {'changed': result['changed'], 'releases': result['releases'], 'kmod': result['kmod']}
    if module._diff and result['diff']:
        out['diff'] = result['diff']
    module.exit_json(**out)


if __name__ == '__main__':
    main()

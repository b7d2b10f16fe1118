"""The GRUB drop-in of module_blacklist: rendered from its template and read the way update-grub reads
/etc/default/grub.d/*.cfg (sourced by /bin/sh after /etc/default/grub)."""

import os
import subprocess

import jinja2

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TEMPLATE = os.path.join(ROOT, 'roles', 'module_blacklist', 'templates', 'grub-blacklist.cfg.j2')


def render(names):
    with open(TEMPLATE) as f:
        return jinja2.Template(f.read(), keep_trailing_newline=True).render(module_blacklist_cmdline_names=names)


def grub_cmdline(tmp_path, default_grub, dropin):
    (tmp_path / 'grub').write_text(default_grub)
    (tmp_path / 'kernel-kmod-blacklist.cfg').write_text(dropin)
    out = subprocess.run(['/bin/sh', '-c', '. ./grub; . ./kernel-kmod-blacklist.cfg; printf %s "$GRUB_CMDLINE_LINUX"'],
                         cwd=str(tmp_path), check=True, stdout=subprocess.PIPE, universal_newlines=True)
    return out.stdout


def test_dropin_appends_modprobe_blacklist_to_the_existing_command_line(tmp_path):
    text = render(['pcspkr', 'floppy'])
    assert text.startswith('# Written by kernel.kmod')
    got = grub_cmdline(tmp_path, 'GRUB_CMDLINE_LINUX="quiet console=ttyS0"\n', text)
    assert got == 'quiet console=ttyS0 modprobe.blacklist=pcspkr,floppy'


def test_dropin_works_without_a_command_line_in_default_grub(tmp_path):
    got = grub_cmdline(tmp_path, 'GRUB_TIMEOUT=5\n', render(['nouveau']))
    assert got.split() == ['modprobe.blacklist=nouveau']


def test_dropin_has_one_assignment_and_comments_only(tmp_path):
    lines = [line for line in render(['a_b', 'c']).splitlines() if line and not line.startswith('#')]
    assert lines == ['GRUB_CMDLINE_LINUX="${GRUB_CMDLINE_LINUX} modprobe.blacklist=a_b,c"']

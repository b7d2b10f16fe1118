"""The two roles' interfaces: every default documented in meta/argument_specs.yml with the same value, every
variable the roles set or read carries the role's prefix, handlers listen on the shared topics."""

import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLES = ['persistent_modules', 'module_blacklist']


def _load(role, *path):
    with open(os.path.join(ROOT, 'roles', role, *path)) as f:
        return yaml.safe_load(f)


@pytest.mark.parametrize('role', ROLES)
def test_defaults_are_documented_with_their_values(role):
    defaults = _load(role, 'defaults', 'main.yml')
    options = _load(role, 'meta', 'argument_specs.yml')['argument_specs']['main']['options']
    assert sorted(defaults) == sorted(options)
    for name, value in defaults.items():
        assert name.startswith(role + '_')
        assert options[name].get('default') == value, name
        assert options[name].get('description'), name


@pytest.mark.parametrize('role', ROLES)
def test_list_entries_are_documented(role):
    options = _load(role, 'meta', 'argument_specs.yml')['argument_specs']['main']['options']
    entry = options[role + '_list']['options']
    assert entry['name']['required'] is True
    assert entry['state']['choices'] == ['present', 'absent']
    assert entry['state']['default'] == 'present'
    for sub in entry.values():
        assert sub.get('description')


@pytest.mark.parametrize('role', ROLES)
def test_set_facts_and_registers_are_prefixed(role):
    text = ''
    for sub in ('tasks', 'handlers'):
        for name in os.listdir(os.path.join(ROOT, 'roles', role, sub)):
            with open(os.path.join(ROOT, 'roles', role, sub, name)) as f:
                text += f.read()
    for var in re.findall(r'register: (\w+)', text) + re.findall(r'loop_var: (\w+)', text):
        assert var.startswith(role + '_'), var
    for block in re.findall(r'set_fact:\n((?:      .*\n)+)', text):
        for var in re.findall(r'^    (\w+):', block, re.M):
            assert var.startswith(role + '_'), var


@pytest.mark.parametrize('role', ROLES)
def test_handlers_listen_on_the_shared_topics(role):
    handlers = _load(role, 'handlers', 'main.yml')
    topics = set(h['listen'] for h in handlers)
    assert {'kernel.kmod initramfs', 'kernel.kmod reboot'} <= topics
    initramfs = [h for h in handlers if h['listen'] == 'kernel.kmod initramfs']
    assert [h.get('kernel.kmod.kmod_initramfs') for h in initramfs] == [{'state': 'current'}]
    reboot = [h for h in handlers if 'ansible.builtin.reboot' in h]
    assert len(reboot) == 1
    assert role + '_reboot_ok | bool' in reboot[0]['when']
    assert 'not ansible_check_mode' in reboot[0]['when']

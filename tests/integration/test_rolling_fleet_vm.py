"""playbooks/rolling.yml over three VMs at once: host by host, a reboot each, and a stop at a faulty host.

Three VMs of the harness (768 MiB, one CPU each) are the fleet.  The first
run persists brd with rd_nr=3 (a read-only parameter, so the value seen
after boot proves the options file) and blacklists pcspkr without unloading
it, so each host owes a reboot: the roles reboot it, the playbook checks it
when it is back, and only then goes on to the next host.  The second run
adds `floppy` (disabled) to the blacklist after /etc/modprobe.d on web2 was
made a read-only bind mount of itself (EROFS; the image has no chattr): web1
takes the change, web2 fails with a message naming the file, nothing in its
configuration directories changed, and web3 is never touched.

The initramfs is left alone here (`*_initramfs: never`): a rebuild takes
about a minute per host under TCG, and the roles' Molecule scenarios and
test_kmod_initramfs_vm prove rebuilds and early-boot effects; this test is
about the fleet mechanics.
"""

import os

import pytest

from tests.vm.ansible_run import REPO, run_playbook
from tests.vm.fleet import Fleet

pytestmark = pytest.mark.vm

HOSTS = ('web1', 'web2', 'web3')
PLAYBOOK = os.path.join(REPO, 'playbooks', 'rolling.yml')

SETTINGS = {
    'persistent_modules_list': [{'name': 'brd', 'params': {'rd_nr': 3}}],
    'persistent_modules_initramfs': 'never',
    'module_blacklist_list': [{'name': 'pcspkr'}],
    'module_blacklist_unload': False,
    'module_blacklist_initramfs': 'never',
}
SECOND = dict(SETTINGS, module_blacklist_list=[{'name': 'pcspkr'}, {'name': 'floppy', 'disable': True}],
              module_blacklist_unload=True)

# What a host looks like, for "untouched" and "nothing half written".
SNAPSHOT = r'''cat /proc/sys/kernel/random/boot_id
for m in brd pcspkr floppy; do test -d /sys/module/$m && echo "$m loaded" || echo "$m not loaded"; done
cat /sys/module/brd/parameters/rd_nr 2>/dev/null || echo 'no rd_nr'
find /etc/modprobe.d /etc/modules-load.d /etc/modules -type f -print0 | sort -z | xargs -0 sha256sum
'''


def snapshot(vm):
    rc, out, err = vm.ssh(SNAPSHOT)
    assert rc == 0, out + err
    return out.splitlines()


@pytest.fixture(scope='module')
def fleet():
    with Fleet(HOSTS, memory=768, cpus=1) as machines:
        yield machines


@pytest.fixture(scope='module')
def first_run(fleet):
    before = {h: snapshot(fleet[h]) for h in HOSTS}
    play = run_playbook(fleet, PLAYBOOK, extra_vars=SETTINGS, timeout=3600)
    after = {h: snapshot(fleet[h]) for h in HOSTS}
    return play, before, after


@pytest.fixture(scope='module')
def faulty_run(fleet, first_run):
    rc, out, err = fleet['web2'].ssh('mount --bind /etc/modprobe.d /etc/modprobe.d && '
                                     'mount -o remount,ro,bind /etc/modprobe.d')
    assert rc == 0, out + err
    try:
        before = {h: snapshot(fleet[h]) for h in HOSTS}
        play = run_playbook(fleet, PLAYBOOK, extra_vars=SECOND, timeout=3600)
        after = {h: snapshot(fleet[h]) for h in HOSTS}
    finally:
        fleet['web2'].ssh('umount /etc/modprobe.d')
    return play, before, after


def test_every_host_converges_rebooted_and_checked(first_run):
    play, before, after = first_run
    assert play.rc == 0, play.stdout[-3000:] + play.stderr[-3000:]
    for host in HOSTS:
        assert after[host][0] != before[host][0], '%s was not rebooted' % host
        assert after[host][1:5] == ['brd loaded', 'pcspkr not loaded', 'floppy loaded', '3'], (host, after[host])
        assert play.stats[host]['failures'] == 0 and play.stats[host].get('unreachable', 0) == 0


def test_hosts_go_one_at_a_time_each_checked_before_the_next(first_run):
    play = first_run[0]
    # serial: 1 means each host's tasks, its reboot and its check come before any task of the next host.
    order = [t['host'] for t in play.tasks]
    firsts = [order.index(h) for h in HOSTS]
    lasts = [len(order) - 1 - order[::-1].index(h) for h in HOSTS]
    assert firsts == sorted(firsts) and lasts[0] < firsts[1] and lasts[1] < firsts[2], order
    checks = [t for t in play.tasks if t['task'].startswith('Check each')]
    assert {t['host'] for t in checks} == set(HOSTS)
    assert all(t['status'] == 'ok' for t in checks), [(t['host'], t['task'], t['status']) for t in checks]


def test_a_faulty_host_stops_the_run_there(faulty_run):
    play, before, after = faulty_run
    assert play.rc != 0
    failed = [t for t in play.tasks if t['status'] == 'failed']
    assert {t['host'] for t in failed} == {'web2'}, [(t['host'], t['task']) for t in failed]
    # a looped task fails with 'One or more items failed'; the item says why
    messages = [t['result'].get('msg', '') for t in failed]
    messages += [item.get('msg', '') for t in failed for item in t['result'].get('results', []) if item.get('failed')]
    assert any('/etc/modprobe.d/kernel-kmod-blacklist.conf' in m and 'Read-only file system' in m for m in messages), \
        messages
    assert not any(t['host'] == 'web3' for t in play.tasks), 'web3 was touched'


def test_the_first_host_keeps_its_change_and_the_others_are_as_they_were(faulty_run):
    play, before, after = faulty_run
    assert after['web1'][1:4] == ['brd loaded', 'pcspkr not loaded', 'floppy not loaded'], after['web1']
    assert after['web1'][5:] != before['web1'][5:]          # the floppy lines were written
    assert after['web2'] == before['web2']                  # nothing half written, nothing unloaded
    assert after['web3'] == before['web3']

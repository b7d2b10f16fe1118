"""Fixtures for integration tests against a real kernel in a throwaway VM.

`vm` boots one VM per test session (tests/vm/vm.py) and tears it down at the
end; tests talk to it with vm.ssh(cmd) -> (rc, stdout, stderr), through
Ansible with run_playbook()/run_module() of tests/vm/ansible_run.py, and reboot it with
vm.reboot().  Tests that use it are marked `@pytest.mark.vm`.

A missing qemu or mmdebstrap is a failure, never a skip: CI must not pass
without having booted anything.
"""

import pytest

from tests.vm.image import ImageError, missing_tools
from tests.vm.vm import QEMU, VM, VMError

REQUIRED = [QEMU, 'qemu-img', 'mmdebstrap', 'mkfs.ext4', 'ssh', 'ssh-keygen']


@pytest.fixture(scope='session')
def vm():
    missing = missing_tools(REQUIRED)
    if missing:
        pytest.fail('the VM tests need %s: run `make deps` (tests/apt-packages.txt)' % ', '.join(missing),
                    pytrace=False)
    machine = VM()
    try:
        machine.start()
    except (VMError, ImageError) as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield machine
    finally:
        machine.stop()

"""Several VMs of the harness at once, as one Ansible inventory: a small fleet.

    with Fleet(['web1', 'web2', 'web3'], memory=768, cpus=1) as fleet:
        fleet.inventory              # one inventory file, a host per VM (group `all`)
        fleet['web2'].ssh('lsmod')   # each VM as tests/vm/vm.py gives it

The VMs boot at the same time (each has its own overlay and port); a VM that
fails to boot stops the others and raises its VMError.  Each reboot of a
guest is handled by its own VM object (the guest's own /boot initrd).
"""

import json
import os
import shutil
import tempfile
import threading

from tests.vm.vm import VM, VMError


class Fleet(object):
    def __init__(self, names, memory=768, cpus=1):
        self.names = list(names)
        self.vms = {name: VM(memory=memory, cpus=cpus) for name in self.names}
        self.workdir = None

    def __getitem__(self, name):
        return self.vms[name]

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def inventory(self):
        return os.path.join(self.workdir, 'inventory.yml')

    def start(self):
        errors = {}

        def boot(name):
            try:
                self.vms[name].start()
            except BaseException as e:  # reported below, with the host's name
                errors[name] = e
        threads = [threading.Thread(target=boot, args=(name,), name='boot-' + name) for name in self.names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            self.stop()
            raise VMError('; '.join('%s: %s' % (name, e) for name, e in sorted(errors.items())))
        self.workdir = tempfile.mkdtemp(prefix='kmod-fleet-')
        hosts = {}
        for name in self.names:
            with open(self.vms[name].inventory) as f:
                hosts[name] = next(iter(json.load(f)['all']['hosts'].values()))
        with open(self.inventory, 'w') as f:
            json.dump({'all': {'hosts': hosts}}, f, indent=1)
        return self

    def stop(self):
        for vm in self.vms.values():
            vm.stop()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

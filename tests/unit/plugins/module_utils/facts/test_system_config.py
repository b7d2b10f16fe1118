from ansible_collections.kernel.kmod.plugins.module_utils.facts.system_config import read_system_config
from tests.lib.fake_root import write


def test_config_facts(tmp_path):
    write(tmp_path, 'etc/modprobe.d/a.conf',
          'install usb-storage /bin/true\ninstall usb-storage /bin/false\ninstall fw /bin/true && echo\n'
          'install cam /usr/bin/false\nremove x /sbin/rmmod x\nalias my-* target\nweakdep m n o\n')
    write(tmp_path, 'etc/modules-load.d/x.conf', 'loop\n')
    out = read_system_config(str(tmp_path), None, 'root=/dev/vda module_blacklist=evil,bad foo.bar=1')
    config = out['modprobe']
    # only the first install line of a module counts, and only a lone true/false disables
    assert [(d['name'], d['command']) for d in config['disabled']] == [('usb_storage', '/bin/true'), ('cam', '/usr/bin/false')]
    assert config['remove'] == [{'module': 'x', 'command': '/sbin/rmmod x', 'file': '/etc/modprobe.d/a.conf', 'line': 5}]
    assert config['weakdeps'][0]['deps'] == ['n', 'o']
    assert config['options'] == {'foo': [{'options': 'bar=1', 'file': '/proc/cmdline', 'line': 1}]}
    assert config['module_blacklist'] == ['evil', 'bad']
    assert config['files'] == ['/etc/modprobe.d/a.conf']
    assert out['alias_lookup']('my-thing') == ['target'] and out['alias_lookup']('other') == []
    assert [e['name'] for e in out['modules_load']] == ['loop']


def test_image_without_cmdline(tmp_path):
    out = read_system_config(str(tmp_path), None, None)
    assert out['modprobe']['module_blacklist'] == [] and out['modprobe']['blacklist'] == []
    assert out['modules_load'] == [] and out['warnings'] == []

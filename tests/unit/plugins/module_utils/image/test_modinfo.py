from ansible_collections.kernel.kmod.plugins.module_utils.image.modinfo import builtin_info, file_info
from tests.lib.fakeko import build_ko


def test_file_info(tmp_path):
    path = build_ko(str(tmp_path / 'snd-x.ko.zst'), compress='zst', signed=True,
                    modinfo=['license=GPL', 'description=Sound X', 'author=A', 'author=B', 'alias=pci:v1*',
                             'depends=snd,core', 'softdep=pre: a', 'softdep=post: b', 'intree=Y',
                             'parm=p:Level', 'parmtype=p:int', 'vermagic=6.1 SMP', 'import_ns=NS'])
    info = file_info(path, 'snd_x')
    assert info['name'] == 'snd_x' and info['filename'] == path
    assert info['builtin'] is False and info['signed'] is True and info['compression'] == 'zstd'
    assert info['author'] == ['A', 'B'] and info['depends'] == ['snd', 'core']
    assert info['softdep'] == 'pre: a post: b' and info['weakdep'] is None
    assert info['parameters'] == {'p': {'type': 'int', 'description': 'Level'}}
    assert info['intree'] is True and info['import_ns'] == ['NS'] and info['vermagic'] == '6.1 SMP'
    # the fake signature is no PKCS#7 message: no signer, and no error
    assert info['signer'] is None
    assert info['fields']['license'] == ['GPL']


def test_builtin_info():
    info = builtin_info([('parm', 'time:Show timing'), ('parmtype', 'time:bool'), ('license', 'GPL')], 'printk')
    assert info['filename'] == '(builtin)' and info['builtin'] is True and info['name'] == 'printk'
    assert info['parameters'] == {'time': {'type': 'bool', 'description': 'Show timing'}}
    assert info['license'] == 'GPL' and info['signed'] is False

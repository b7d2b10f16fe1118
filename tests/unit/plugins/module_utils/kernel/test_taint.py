import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.kernel import taint


def test_table_is_complete_and_consistent():
    bits = [f[0] for f in taint.TAINT_FLAGS]
    letters = [f[1] for f in taint.TAINT_FLAGS]
    assert bits == list(range(20))
    assert ''.join(letters) == 'PFSRMBUDAWCIOELKXTNJ'
    assert len(set(f[2] for f in taint.TAINT_FLAGS)) == 20


def test_zero_is_untainted():
    assert taint.decode_mask(0) == {'value': 0, 'letters': '', 'flags': []}


def test_out_of_tree_and_unsigned():
    got = taint.decode_mask(12288)
    assert got == {
        'value': 12288,
        'letters': 'OE',
        'flags': [
            {'bit': 12, 'letter': 'O', 'name': 'OOT_MODULE',
             'description': 'externally-built ("out-of-tree") module was loaded'},
            {'bit': 13, 'letter': 'E', 'name': 'UNSIGNED_MODULE',
             'description': 'unsigned module was loaded'},
        ],
    }


def test_docs_example_4609_is_P_W_O():
    # the example in tainted-kernels.rst: 4609 = P, W, O
    got = taint.decode_mask(4609)
    assert [(f['bit'], f['letter']) for f in got['flags']] == [(0, 'P'), (9, 'W'), (12, 'O')]
    assert got['letters'] == 'PWO'


@pytest.mark.parametrize('bit, letter, name', [
    (0, 'P', 'PROPRIETARY_MODULE'), (1, 'F', 'FORCED_MODULE'), (10, 'C', 'CRAP'),
    (15, 'K', 'LIVEPATCH'), (16, 'X', 'AUX'), (17, 'T', 'RANDSTRUCT'), (18, 'N', 'TEST'),
    (19, 'J', 'FWCTL'),
])
def test_single_bits(bit, letter, name):
    got = taint.decode_mask(1 << bit)
    assert got['letters'] == letter
    assert [(f['bit'], f['letter'], f['name']) for f in got['flags']] == [(bit, letter, name)]
    assert taint.letter_of_bit(bit) == letter
    assert taint.bit_of_letter(letter) == bit


def test_unknown_bits_are_reported():
    got = taint.decode_mask((1 << 20) | (1 << 63) | 1)
    assert got['value'] == (1 << 20) | (1 << 63) | 1
    assert got['letters'] == 'P'
    assert got['flags'][1:] == [
        {'bit': 20, 'letter': None, 'name': 'UNKNOWN', 'description': 'unknown taint bit 20'},
        {'bit': 63, 'letter': None, 'name': 'UNKNOWN', 'description': 'unknown taint bit 63'},
    ]
    assert taint.letter_of_bit(20) is None


def test_negative_mask_is_refused():
    with pytest.raises(ValueError):
        taint.decode_mask(-1)


@pytest.mark.parametrize('text', ['OE', '(OE)', ' OE\n', '(OE+)', '(OE-)', 'OEO'])
def test_module_letters(text):
    got = taint.decode_letters(text)
    assert got['value'] == 12288
    assert got['letters'] == 'OE'
    assert [f['name'] for f in got['flags']] == ['OOT_MODULE', 'UNSIGNED_MODULE']


def test_module_letters_keep_their_order():
    got = taint.decode_letters('EPO')
    assert [f['bit'] for f in got['flags']] == [13, 0, 12]
    assert got['value'] == (1 << 13) | 1 | (1 << 12)


def test_unknown_module_letter():
    got = taint.decode_letters('Oz')
    assert got['value'] == 4096
    assert got['letters'] == 'Oz'
    assert got['flags'][1] == {'bit': None, 'letter': 'z', 'name': 'UNKNOWN',
                               'description': "unknown taint letter 'z'"}


@pytest.mark.parametrize('text', ['', None, '()', '\n'])
def test_no_module_taint(text):
    assert taint.decode_letters(text) == {'value': 0, 'letters': '', 'flags': []}


def test_letters_and_mask_agree():
    for bit, letter, _name, _desc in taint.TAINT_FLAGS:
        assert taint.decode_letters(letter)['value'] == 1 << bit
    everything = taint.decode_mask((1 << 20) - 1)
    assert taint.decode_letters(everything['letters'])['value'] == (1 << 20) - 1

"""Hypothesis strategies shared by the fuzz tests of the config parsers."""

from hypothesis import strategies as st


def mutated(valid, keywords):
    """A strategy: `valid` text with random cuts, keyword insertions and random characters."""
    @st.composite
    def strategy(draw):
        text = valid
        for _step in range(draw(st.integers(1, 8))):
            pos = draw(st.integers(0, len(text)))
            action = draw(st.sampled_from(['insert', 'delete', 'keyword']))
            if action == 'delete':
                end = draw(st.integers(pos, min(len(text), pos + 10)))
                text = text[:pos] + text[end:]
            elif action == 'keyword':
                text = text[:pos] + draw(st.sampled_from(keywords)) + text[pos:]
            else:
                text = text[:pos] + draw(st.text(max_size=4)) + text[pos:]
        return text
    return strategy()


def any_config_text(valid, keywords, words):
    """Random text, mutated valid text, or runs of keywords and words."""
    return st.one_of(st.text(max_size=200), mutated(valid, keywords),
                     st.lists(st.sampled_from(list(keywords) + list(words)), max_size=40).map(''.join))

# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared fixtures of the conformance tests."""

import pytest

from tests.lib.debian_tree import get_tree


@pytest.fixture(scope='session')
def debian_tree():
    """Debian's real amd64 module tree (downloaded once, cached, indexed by kmod's depmod)."""
    return get_tree()

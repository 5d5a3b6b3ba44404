# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the role tests: ``role_run`` runs a playbook against a QEM simulator."""

import pytest

from role_support import make_role_runner


@pytest.fixture
def role_run(tmp_path):
    """Return ``role_run(sim, playbook, ...)``; see role_support.make_role_runner."""
    return make_role_runner(tmp_path)

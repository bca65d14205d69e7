"""Unit tests import the collection as ansible_collections.djangostack.deploy (the checkout)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

"""Make the collection importable as ansible_collections.raftops.etcd."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))
FIXTURES = Path(__file__).resolve().parent / "fixtures"
VERSIONS = ["3.4.23", "3.5.30"]

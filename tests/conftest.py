"""Shared fixtures: paths to the repo, the bundled sample and the shared SQuAD slice."""
import os
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
SQUAD = REPO.parent/'shared'/'datasets'/'squad2-dev'/'squad2-dev-3articles.json'
ARTIFACTS = REPO/'test-artifacts'

os.environ.setdefault('RAGAS_DO_NOT_TRACK', 'true')
os.environ.setdefault('ANONYMIZED_TELEMETRY', 'False')
os.environ.setdefault('HF_HUB_OFFLINE', '1')

@pytest.fixture(scope='session')
def squad_path():
    if not SQUAD.is_file(): pytest.fail(f"the shared SQuAD slice is missing: {SQUAD} (CI has ../shared beside the checkout)")
    return SQUAD

@pytest.fixture(scope='session')
def repo(): return REPO

@pytest.fixture(scope='session')
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS

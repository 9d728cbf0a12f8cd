"""What ``reminderbot run`` does before it is ready, kept small: start-up is measured by
``python -m tests.bench.app_bench`` (target <= 2 s); these tests keep its big costs away."""

from __future__ import annotations

import subprocess
import sys


def test_the_bot_starts_without_importing_the_chart_library() -> None:
    """Matplotlib (with numpy) cost most of a second of every start; only /checkins' picture
    needs it, so it is imported at the first drawing."""
    script = (
        "import sys\n"
        "import reminderbot.cli, reminderbot.telegram.app, reminderbot.telegram.serve\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'numpy'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"

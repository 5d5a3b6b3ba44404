# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The progress line of the qem_task_action action plugin."""

from ansible_collections.qem.replicate.plugins.action.qem_task_action import progress_line


def test_line_before_the_first_read():
    assert progress_line("Server 'rep-01'", None, 2.4) == "Server 'rep-01': reading the task states; 2 s."


def test_line_counts_pending_and_requests():
    data = {"target": "stopped", "total": 4, "pending": ["T1", "T2", "T3"], "in_flight": 1, "unsent": 2}

    line = progress_line("Server 'rep-01', phase 1 (stop tasks)", data, 14.6)

    assert line == ("Server 'rep-01', phase 1 (stop tasks): 3 of 4 tasks not confirmed stopped yet (T1, T2, T3); "
                    "requests: 1 waiting for a reply, 2 not sent yet; 15 s.")


def test_line_counts_answered_requests():
    data = {"target": "stopped", "total": 4, "pending": ["T1", "T2", "T3", "T4"], "in_flight": 1, "unsent": 0}

    line = progress_line("Server 'rep-01'", data, 3)

    assert line == "Server 'rep-01': 4 of 4 tasks not confirmed stopped yet (T1, T2, T3, T4); requests: 3 answered, 1 waiting for a reply; 3 s."


def test_line_after_every_reply():
    data = {"target": "running", "total": 1, "pending": ["LS"], "in_flight": 0, "unsent": 0}

    assert progress_line("Server 'rep-01'", data, 3) == "Server 'rep-01': 1 of 1 task not confirmed running yet (LS); requests: 1 answered; 3 s."


def test_line_when_every_task_is_confirmed():
    data = {"target": "running", "total": 2, "pending": [], "in_flight": 0, "unsent": 0}

    assert progress_line("Server 'rep-01'", data, 9) == "Server 'rep-01': 0 of 2 tasks not confirmed running yet; 9 s."


def test_line_names_ten_tasks_and_counts_the_rest():
    names = ["T%03d" % number for number in range(1, 26)]
    data = {"target": "running", "total": 50, "pending": names, "in_flight": 0, "unsent": 0}

    line = progress_line("Server 'rep-02'", data, 30)

    assert "25 of 50 tasks not confirmed running yet (T001, T002, T003, T004, T005, T006, T007, T008, T009, T010 and 15 more)" in line
    assert line.endswith("; requests: 25 answered; 30 s.")

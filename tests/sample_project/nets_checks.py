"""The sample project's own tests, written as a user writes them with cnnstat's pytest plugin.

Not collected by cnnstat's suite (the name has no ``test_``): ``tests/test_pytest_plugin.py`` runs it with pytester.
"""

from models.nets import build


def test_build_keeps_its_budget(cnnstat):
    cnnstat.assert_budget(build(), input_size=(3, 32, 32), macs="<=3M", params="<=50k", activation_bytes="<=200KiB")


def test_build_matches_its_snapshot(cnnstat):
    # the key the CLI gives models/nets.py:build: the test and `cnnstat check` share one snapshot file
    cnnstat.assert_snapshot(build(), input_size=(3, 32, 32), name="models/nets.py:build")

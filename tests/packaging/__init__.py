"""Tests of the built bundle, installers and OS integration (``@pytest.mark.packaging``)."""

"""The gateway contract suite, by concern; composed in :mod:`paykit.testing.gateway_contract`."""

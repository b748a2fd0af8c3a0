"""Host and network checks. ``registry.CHECKS`` lists them all."""

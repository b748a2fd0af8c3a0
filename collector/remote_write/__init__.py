"""Prometheus remote write: every stored sample, with its client/site/asset labels, to a
Prometheus-compatible store (docs/remote-write.md). :mod:`.protocol` is the wire format,
:mod:`.labels` the series mapping, :mod:`.exporter` the durable queue and its sender."""

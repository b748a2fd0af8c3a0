"""The assets domain's health read model: what the asset and fleet overviews show.

* :mod:`collector.health.catalog` — every metric the agent sends, with its unit, help and the
  check (or SNMP profile) that sends it, read from the agent's own catalogs;
* :mod:`collector.health.units` — a value in a person's terms (``12.3 GiB``, ``3 days``);
* :mod:`collector.health.timeseries` — chart data for one series over a range, from raw
  samples and hourly rollups, downsampled to a bounded number of points;
* :mod:`collector.health.overview` — one asset's health at a glance and the fleet's, worst first.

Every function that reads client-owned rows takes the caller's
:class:`collector.web.access.Scope`; the web UI and any API call these, nobody reads the
store's series tables for these figures elsewhere.
"""

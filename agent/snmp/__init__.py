"""The SNMP poller: device profiles (YAML), one asyncio SNMP engine, printer/switch/UPS logic.

Nothing here imports pysnmp at module level except :mod:`agent.snmp.engine`, which is
imported only when the config names SNMP targets, so host-only agents stay light.
"""

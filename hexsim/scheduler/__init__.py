"""The scheduler core both runtimes drive through the same seam: events in, decisions out.

It imports no simpy, asyncio or HTTP library and reads no clock.
"""

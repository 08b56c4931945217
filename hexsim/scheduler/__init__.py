"""The scheduler core shared by the simulator and the live gateway (no simpy, asyncio or HTTP)."""

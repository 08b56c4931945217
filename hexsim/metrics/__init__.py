"""Records, attainment, latency deadlines, percentiles, reports and exports (sim and live alike)."""

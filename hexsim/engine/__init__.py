"""The clock-free vLLM-v1 engine model that the simulator and the engine emulator both drive."""

"""The live backend: the shared scheduler in front of real vLLM engines, and an engine emulator for tests."""

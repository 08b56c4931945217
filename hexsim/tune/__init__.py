"""Optuna search of the scheduler's hyperparameters in simulation, and capacity planning."""

"""What each `hexsim` subcommand does, given its parsed arguments."""

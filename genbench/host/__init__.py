"""This machine: the memory this process may still take and a trainer's share of the CPUs."""

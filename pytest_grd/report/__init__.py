"""Reports, JUnit properties and baselines."""

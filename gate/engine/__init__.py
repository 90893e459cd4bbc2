"""The level runner: plan, polling rounds, deadlines and retries, progress lines."""

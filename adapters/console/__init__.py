"""The console channel: a terminal where `/poem ...` works as it does on Discord or Slack."""

"""The Slack adapter (slack-bolt): slash commands, buttons, modals, brainstorm threads."""

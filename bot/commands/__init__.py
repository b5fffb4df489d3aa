"""Commands: the catalogue, command text, prompts, poetic forms, chains, rendering results."""

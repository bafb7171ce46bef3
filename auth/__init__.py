"""Identity and access: who the caller is (backend, tokens) and what they may do (policy)."""

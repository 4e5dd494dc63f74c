"""PhotoVote: a FastAPI app publishing typed events, and a processor counting votes."""

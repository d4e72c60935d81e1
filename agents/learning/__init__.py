"""Learning from outcomes, the pure part: how similar past outcomes move a new proposal's confidence (and
are cited in its reasoning), and what a finished recommendation teaches (`confidence.learned_outcome`).
The vectors and their store live in `optiinfra.learning`."""

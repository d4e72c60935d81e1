"""Learning from outcomes: each finished recommendation is kept in Qdrant as a structured feature vector
(what kind of change, on what kind of workload, promising what), so that a new recommendation can be
weighed by how similar changes on the same customer's fleet ended. No text is embedded: the vector's
slots are fixed numeric features (see `features`)."""
